"""docs/robots.md is generated from the registry; it must not go stale."""

from pathlib import Path

from robots.docs import markdown


def test_robots_page_is_up_to_date() -> None:
    page = Path(__file__).parents[2] / "docs" / "robots.md"
    assert page.read_text() == markdown(), "regenerate: python -m robots.docs > docs/robots.md"
