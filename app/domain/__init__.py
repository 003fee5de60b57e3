"""Domain code: plain Python, no aiohttp or pymongo imports."""
