"""A small, realistic demo catalog, so a newcomer's first run shows something."""

from __future__ import annotations

from app.domain.content.schemas import NewContent, NewTag
from app.domain.content.service import ContentService
from app.domain.errors import Conflict

TAGS = {
    "python": "Python",
    "observability": "Observability",
    "databases": "Databases",
    "security": "Security",
    "web-performance": "Web performance",
    "devops": "DevOps",
}

# (title, path, tags)
ITEMS = [
    ("Structured logging that operators can grep", "structured-logging", ["observability"]),
    ("Multi-window, multi-burn-rate alerts explained", "burn-rate-alerts", ["observability"]),
    ("Exemplars: from a latency spike to the trace", "exemplars", ["observability"]),
    ("Tracing async Python without the overhead", "async-tracing", ["python", "observability"]),
    ("asyncio task groups in practice", "task-groups", ["python"]),
    ("Profiling a hot path with py-spy", "py-spy", ["python", "web-performance"]),
    ("Typed settings from the environment", "typed-settings", ["python", "devops"]),
    ("Pagination that survives inserts", "cursor-pagination", ["databases"]),
    ("Indexes for the queries you actually run", "mongodb-indexes", ["databases"]),
    ("Transactions need a replica set", "replica-set-transactions", ["databases"]),
    ("Backups you have restored are the only backups", "restore-drills", ["databases", "devops"]),
    ("TTL indexes for expiring sessions", "ttl-indexes", ["databases"]),
    ("Refresh-token rotation and reuse detection", "refresh-rotation", ["security"]),
    ("Argon2id parameters, chosen on purpose", "argon2id", ["security"]),
    ("Rotating JWT secrets without a refresh storm", "jwt-rotation", ["security", "devops"]),
    ("CORS for browser extensions", "extension-cors", ["security", "web-performance"]),
    ("Rate limiting with GCRA", "gcra", ["security", "web-performance"]),
    ("Strong ETags and 304s for JSON APIs", "etags", ["web-performance"]),
    ("stale-while-revalidate in the real world", "swr", ["web-performance"]),
    ("Measuring p99 without fooling yourself", "p99", ["web-performance", "observability"]),
    ("Graceful shutdown behind a load balancer", "graceful-shutdown", ["devops"]),
    ("Readiness is not liveness", "readiness-vs-liveness", ["devops", "observability"]),
    ("Slim, non-root container images", "slim-images", ["devops", "security"]),
    ("Runbooks that work at 3 a.m.", "runbooks", ["devops", "observability"]),
    ("Error budgets as a planning tool", "error-budgets", ["observability"]),
    ("JSON Schema from your validation models", "json-schema", ["python"]),
    ("Property-based API testing", "api-fuzzing", ["python", "security"]),
    ("Connection pools and timeouts", "pool-timeouts", ["databases", "web-performance"]),
    ("Caching catalogs in process", "in-process-cache", ["web-performance", "python"]),
    ("An archived article (inactive)", "archived", ["python"]),
]


async def seed_demo(content: ContentService) -> tuple[int, int]:
    """Create the demo tags that are missing and, into an empty catalog, the demo items.
    Returns (tags created, items created)."""
    has_content = not await content.is_empty()
    tags_created = 0
    for slug, name in TAGS.items():
        try:
            await content.create_tag(NewTag(slug=slug, name=name))
            tags_created += 1
        except Conflict:
            pass
    if has_content:
        return tags_created, 0
    for title, path, tags in ITEMS:
        await content.create(NewContent(
            title=title,
            url=f"https://example.org/articles/{path}",
            thumbnailUrl=f"https://example.org/thumbs/{path}.webp",
            tags=tags,
            isActive=path != "archived",
        ))
    return tags_created, len(ITEMS)
