"""Shared geometry for the seed generator and the self-check (kept outside the project)."""
import math

# Approximate mainland outline of Nantong (lon, lat), hand-drawn from: the brief's river/coast description,
# the cited county extents (Rudong, Rugao, Tongzhou, Qidong), the Sutong / Chongqi bridge centre points,
# and the cited county-seat coordinates. Not a survey boundary.
LAND = [
    (120.38, 32.030), (120.34, 32.10), (120.33, 32.25), (120.34, 32.45), (120.30, 32.55), (120.32, 32.66),
    (120.45, 32.72), (120.62, 32.70), (120.78, 32.66), (120.90, 32.63),
    # Yellow Sea coast, north to south-east
    (120.96, 32.59), (121.05, 32.55), (121.15, 32.49), (121.25, 32.43), (121.33, 32.37), (121.38, 32.31),
    (121.42, 32.27), (121.46, 32.26), (121.52, 32.24), (121.62, 32.17), (121.72, 32.08), (121.81, 31.97),
    (121.87, 31.86), (121.91, 31.76), (121.915, 31.70),
    # Yangtze north bank (north branch, then main channel), east to west
    (121.80, 31.705), (121.66, 31.738), (121.55, 31.772), (121.42, 31.805), (121.30, 31.835), (121.18, 31.838),
    (121.08, 31.836), (121.02, 31.828), (120.96, 31.862), (120.92, 31.900), (120.885, 31.935), (120.84, 31.958),
    (120.76, 31.975), (120.68, 31.990), (120.60, 32.005), (120.50, 32.012), (120.42, 32.020),
]
# Northern strip of Chongming island where Haimen's 海永镇 and Qidong's 启隆 exclaves lie (rough).
CHONGMING_N = [
    (121.22, 31.830), (121.30, 31.820), (121.42, 31.785), (121.55, 31.745), (121.62, 31.712),
    (121.60, 31.680), (121.45, 31.715), (121.30, 31.755), (121.22, 31.790),
]

# Rough county outlines (intersected with LAND when used). Checked in this order (first match wins).
COUNTY_POLY = {
    "320671": [(120.915, 31.905), (121.02, 31.82), (121.09, 31.83), (121.07, 31.92), (120.98, 31.97), (120.93, 31.955)],
    "320613": [(120.74, 32.04), (120.76, 31.97), (120.915, 31.905), (120.93, 31.955), (120.98, 31.97), (120.97, 32.08), (120.80, 32.11)],
    "320685": [(120.28, 32.43), (120.70, 32.43), (120.76, 32.52), (120.92, 32.64), (120.92, 32.76), (120.28, 32.76)],
    "320682": [(120.28, 31.98), (120.66, 31.98), (120.74, 32.04), (120.80, 32.11), (120.84, 32.30), (120.76, 32.42), (120.70, 32.43), (120.28, 32.43)],
    "320614": [(121.10, 31.82), (121.44, 31.79), (121.46, 32.27), (121.40, 32.27), (121.36, 32.12), (121.20, 32.05), (121.10, 31.98)],
    "320681": [(121.44, 31.79), (121.96, 31.64), (121.96, 32.30), (121.46, 32.30)],
    "320612": [(120.66, 31.97), (120.76, 31.97), (120.74, 32.04), (120.80, 32.11), (120.97, 32.08), (121.07, 31.92), (121.09, 31.83),
               (121.10, 31.83), (121.10, 31.98), (121.20, 32.05), (121.36, 32.12), (121.40, 32.25), (120.84, 32.25), (120.80, 32.15), (120.72, 32.06)],
    "320623": [(120.76, 32.42), (120.84, 32.30), (120.84, 32.25), (121.40, 32.25), (121.42, 32.30), (121.42, 32.62), (120.92, 32.64), (120.76, 32.52), (120.70, 32.43)],
}

R_EARTH = 6371.0


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_EARTH * math.asin(math.sqrt(a))


def point_in_poly(lon, lat, poly):
    inside = False
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        if (y1 > lat) != (y2 > lat):
            xin = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < xin:
                inside = not inside
    return inside


def _xy(lon, lat):
    return ((lon - 121.0) * math.cos(math.radians(32.0)) * 111.32, (lat - 32.0) * 110.57)


def dist_to_boundary_km(lon, lat, poly):
    px, py = _xy(lon, lat)
    best = 1e9
    n = len(poly)
    for i in range(n):
        ax, ay = _xy(*poly[i])
        bx, by = _xy(*poly[(i + 1) % n])
        dx, dy = bx - ax, by - ay
        L2 = dx * dx + dy * dy
        t = 0.0 if L2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / L2))
        cx, cy = ax + t * dx, ay + t * dy
        best = min(best, math.hypot(px - cx, py - cy))
    return best


def on_land(lat, lon, margin_km=0.0):
    for poly in (LAND, CHONGMING_N):
        if point_in_poly(lon, lat, poly) and dist_to_boundary_km(lon, lat, poly) >= margin_km:
            return True
    return False


def county_of(lat, lon):
    for code, poly in COUNTY_POLY.items():
        if point_in_poly(lon, lat, poly):
            return code
    return None


def offset(lat, lon, km, bearing_deg):
    b = math.radians(bearing_deg)
    dlat = km * math.cos(b) / 110.57
    dlon = km * math.sin(b) / (111.32 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon
