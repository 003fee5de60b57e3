"""An observed aiohttp service; its name and purpose are in service.yml (see app.identity)."""

from importlib.metadata import PackageNotFoundError, version

from app.identity import NAME

try:
    __version__ = version(NAME)
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+local"
