import csv, math
import numpy as np
from geo import LAND, CHONGMING_N, COUNTY_POLY, on_land, county_of, offset, point_in_poly, haversine_km

SRC_DIV = "/work/shared/data/nantong_divisions.csv"

def load_divisions():
    with open(SRC_DIV, encoding="utf-8") as f:
        return list(csv.DictReader(f))

# ---- real / derived county-level points ----
SEATS = {
    "320600": (31.98111, 120.89389, "real", "Wikipedia infobox 'Coordinates (Nantong government)' 31°58′52″N 120°53′38″E via https://howlingpixel.com/i-en/Nantong (as in shared/data/SOURCES.md)"),
    "320612": (32.0642, 121.0751, "real", "https://everything.explained.today/%5C/Tongzhou%2c_Nantong (prints 121.0751°W, an E/W typo); cf. https://deno.abcdef.wiki/wiki/Tongzhou_%28Nantong%29 32°4′N 121°4′E (as in SOURCES.md)"),
    "320613": (31.98111, 120.89389, "approximate", "no own coordinate found; 崇川区 is the main urban district and seat of the city government (en.nantong.gov.cn/2022-06/13/c_630777.htm), so the city-government point 320600 stands in"),
    "320614": (31.86889, 121.18194, "real", "https://kiwix.lema.org/wikipedia_en_all_mini_2024-02/A/Haimen 31°52′08″N 121°10′55″E (as in SOURCES.md)"),
    "320623": (32.31750, 121.18389, "real", "https://perceptiode.com/%D0%96%D1%83%D0%B4%D1%83%D0%BD 32°19′03″N 121°11′02″E (copy of ru-wiki; as in SOURCES.md). Conflict: en-wiki Rudong_County gives 32.407,121.075"),
    "320681": (31.81306, 121.65750, "real", "https://perceptiosv.com/%D0%A6%D0%B8%D0%B4%D1%83%D0%BD_(%D0%9D%D0%B0%D0%BD%D1%8C%D1%82%D1%83%D0%BD) 31°48′47″N 121°39′27″E (as in SOURCES.md). Conflict: piglix.com/piglix/Qidong,_Jiangsu gives 31.870,121.703"),
    "320682": (32.24611, 120.59111, "real", "https://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq.cf-ipfs.com/wiki/Rugao.html 32°14′46″N 120°35′28″E (as in SOURCES.md)"),
    "320685": (32.532, 120.46042, "real", "zh-wiki 海安市 infobox 32°31′55″N 120°27′38″E via https://54e1ad4b4888.kfd.me/zh-mo/%E6%B5%B7%E5%AE%89%E5%B8%82 (seat 海安街道). Conflict: en-wiki copies (wikipedia.moesalih.com/Hai'an) give 32.535,120.563, the value in shared/data/nantong_divisions.csv"),
}
# 开发区: "located on the southeastern side of Nantong" (werkzeugbaus.blogspot.com/2012/03/coastal-zone-hungry-for-foreign-capital.html)
_dz = offset(31.98111, 120.89389, 10.0, 135.0)
SEATS["320671"] = (round(_dz[0], 5), round(_dz[1], 5), "approximate",
                   "derived: city-government point moved 10 km at bearing 135° (south-east); the zone is 'located on the southeastern side of Nantong' (werkzeugbaus.blogspot.com/2012/03/coastal-zone-hungry-for-foreign-capital.html, China Daily text)")

CHONGMING_ROWS = {
    "320614102": "exclave on Chongming island: 'directly north of Chongming Island except for a small portion that forms Haimen District's Haiyong Town' (kiwix.lema.org .../A/Haimen)",
    "320681404": "启隆 is on Chongming island: 'Qidong's Qilong township ... now forms a pene-enclave on Chongming Island' (piglix.com/piglix/Qidong,_Jiangsu)",
}

GRID = 0.01  # degrees


def candidates(county, margin_km=1.5):
    poly = COUNTY_POLY[county]
    lons = [p[0] for p in poly]; lats = [p[1] for p in poly]
    pts = []
    for lat in np.arange(min(lats), max(lats) + 1e-9, GRID):
        for lon in np.arange(min(lons), max(lons) + 1e-9, GRID):
            lat_r, lon_r = round(float(lat), 4), round(float(lon), 4)
            if county_of(lat_r, lon_r) == county and on_land(lat_r, lon_r, margin_km) and point_in_poly(lon_r, lat_r, LAND):
                pts.append((lat_r, lon_r))
    return np.array(pts)


def kmeans(points, k, seed_point):
    """Deterministic Lloyd's k-means; init by farthest-point sampling starting from the point farthest from seed_point."""
    xy = np.column_stack([(points[:, 1] - 121.0) * math.cos(math.radians(32)) * 111.32, (points[:, 0] - 32.0) * 110.57])
    sx = np.array([(seed_point[1] - 121.0) * math.cos(math.radians(32)) * 111.32, (seed_point[0] - 32.0) * 110.57])
    d = np.linalg.norm(xy - sx, axis=1)
    centers = [xy[int(np.argmax(d))]]
    dmin = np.linalg.norm(xy - centers[0], axis=1)
    for _ in range(1, k):
        i = int(np.argmax(dmin)); centers.append(xy[i]); dmin = np.minimum(dmin, np.linalg.norm(xy - xy[i], axis=1))
    C = np.array(centers)
    for _ in range(100):
        lab = np.argmin(((xy[:, None, :] - C[None, :, :]) ** 2).sum(-1), axis=1)
        newC = np.array([xy[lab == j].mean(0) if np.any(lab == j) else C[j] for j in range(k)])
        if np.allclose(newC, C):
            break
        C = newC
    # snap each centre to the nearest candidate point (guarantees it is on land and in the county)
    out = []
    for c in C:
        i = int(np.argmin(np.linalg.norm(xy - c, axis=1)))
        out.append((float(points[i, 0]), float(points[i, 1])))
    return out


def bearing(a, b):
    (la1, lo1), (la2, lo2) = a, b
    y = (lo2 - lo1) * math.cos(math.radians(la1)); x = la2 - la1
    return (math.degrees(math.atan2(y, x)) + 360) % 360


def ring_point(seat, km, ang, county):
    for r in np.arange(km, 0.4, -0.5):
        lat, lon = offset(seat[0], seat[1], float(r), ang)
        if county_of(lat, lon) == county and on_land(lat, lon, 1.0):
            return round(lat, 5), round(lon, 5)
    return round(seat[0], 5), round(seat[1], 5)


def chongming_point(i):
    pts = [(31.790, 121.330), (31.745, 121.500)]  # inside CHONGMING_N, fixed by rule "centroid-ish of the strip, west/east"
    return pts[i]


def place_all(divs):
    coords = {}
    for code, (lat, lon, prov, src) in SEATS.items():
        coords[code] = (lat, lon, prov, src)
    by_county = {}
    for d in divs:
        if d["level"] in ("township", "township_other"):
            by_county.setdefault(d["parent_code"], []).append(d)
    METHOD_T = ("approximate: placeholder layout, NOT the town's surveyed position. Rule: towns of county {c} = deterministic k-means "
                "centroids (k={k}) of a 0.01° grid over the county's rough outline ∩ land (≥1.5 km inland), excluding 6 km around the seat; "
                "towns in code order take centroids in clockwise bearing order from north around the seat; see docs/seed-data.md")
    METHOD_S = ("approximate: placeholder layout. Rule: streets (街道) of county {c} on a 3 km ring around the county seat, "
                "evenly spaced by code order starting at bearing 30°, pulled toward the seat until on land")
    METHOD_U = ("approximate: placeholder layout. Rule: streets of urban unit {c} = deterministic k-means centroids (k={k}) of a 0.01° grid "
                "over its rough outline ∩ land, assigned in code order by clockwise bearing from the seat")
    METHOD_O = ("approximate: placeholder layout. Rule: non-administrative unit (township_other) of county {c} on a 6.5 km ring around the seat, "
                "evenly spaced by code order starting at bearing 15°, pulled toward the seat until on land")
    chong_i = 0
    for county, rows in sorted(by_county.items()):
        seat = SEATS[county][:2]
        rows = sorted(rows, key=lambda r: r["code"])
        streets = [r for r in rows if r["level"] == "township" and int(r["code"][6:9]) < 100]
        towns = [r for r in rows if r["level"] == "township" and int(r["code"][6:9]) >= 100]
        others = [r for r in rows if r["level"] == "township_other"]
        special = [r for r in rows if r["code"] in CHONGMING_ROWS]
        for r in special:
            lat, lon = chongming_point(0 if r["code"] == "320614102" else 1)
            coords[r["code"]] = (lat, lon, "approximate", "approximate: " + CHONGMING_ROWS[r["code"]] + "; point placed inside the project's rough outline of north Chongming")
        towns = [r for r in towns if r["code"] not in CHONGMING_ROWS]
        others = [r for r in others if r["code"] not in CHONGMING_ROWS]
        cand = candidates(county)
        if county in ("320613", "320671"):
            urban = streets + towns
            cents = kmeans(cand, len(urban), seat)
            cents.sort(key=lambda p: bearing(seat, p))
            for r, p in zip(urban, cents):
                coords[r["code"]] = (round(p[0], 5), round(p[1], 5), "approximate", METHOD_U.format(c=county, k=len(urban)))
        else:
            n = len(streets)
            for i, r in enumerate(streets):
                coords[r["code"]] = (*ring_point(seat, 3.0, 30 + 360.0 * i / max(n, 1), county), "approximate", METHOD_S.format(c=county))
            far = np.array([p for p in cand if haversine_km(p[0], p[1], seat[0], seat[1]) > 6.0])
            if towns:
                cents = kmeans(far, len(towns), seat)
                cents.sort(key=lambda p: bearing(seat, p))
                for r, p in zip(towns, cents):
                    coords[r["code"]] = (round(p[0], 5), round(p[1], 5), "approximate", METHOD_T.format(c=county, k=len(towns)))
        n = len(others)
        for i, r in enumerate(others):
            coords[r["code"]] = (*ring_point(seat, 6.5, 15 + 360.0 * i / max(n, 1), county), "approximate", METHOD_O.format(c=county))
    return coords
