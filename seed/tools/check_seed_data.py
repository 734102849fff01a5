"""Self-check for /work/main/seed/data (kept outside the project). Run with /work/main/.venv/bin/python."""
import csv, sys, os, filecmp, datetime as dt, math, collections
import networkx as nx

D = "/work/main/seed/data"
errors, notes = [], []
def err(m): errors.append(m)

SCHEMA = {
 "divisions.csv": ["code", "name", "level", "parent_code", "lat", "lon"],
 "division_coords.csv": ["code", "lat", "lon", "provenance", "source"],
 "population.csv": ["code", "name", "population", "year", "provenance", "source"],
 "items.csv": ["code", "name_zh", "name_en", "category", "unit", "unit_weight_kg", "unit_volume_m3", "shelf_life_days", "provenance", "note"],
 "depots.csv": ["code", "name", "tier", "kind", "division_code", "lat", "lon", "coords_provenance", "floor_area_m2", "fire_protected", "flood_protected", "theft_protected", "contact", "provenance", "note"],
 "agreements.csv": ["depot_code", "item_code", "committed_quantity", "lead_time_hours", "valid_from", "valid_to", "contract_ref", "provenance"],
 "capacity.csv": ["depot_code", "item_code", "units_per_day", "lead_time_hours", "provenance"],
 "targets.csv": ["tier", "depot_code", "item_code", "quantity", "provenance", "note"],
 "opening_stock.csv": ["depot_code", "item_code", "lot_number", "quantity", "expiry", "received_on", "provenance"],
 "vehicles.csv": ["depot_code", "plate", "capacity_kg", "capacity_m3", "kind", "provenance"],
 "transport_enterprises.csv": ["code", "name", "division_code", "lat", "lon", "lead_time_hours", "vehicles", "capacity_kg", "capacity_m3", "provenance"],
 "roads/nodes.csv": ["id", "name", "lat", "lon", "kind", "provenance", "source"],
 "roads/edges.csv": ["a", "b", "road", "km", "speed_kmh", "kind", "provenance", "source"],
 "outlines.csv": ["polygon", "seq", "lon", "lat", "provenance", "note"],
}
T = {}
for f, cols in SCHEMA.items():
    p = os.path.join(D, f)
    try:
        with open(p, encoding="utf-8", newline="") as fh:
            r = csv.DictReader(fh)
            if r.fieldnames != cols:
                err(f"{f}: header {r.fieldnames} != {cols}")
            rows = list(r)
        for i, row in enumerate(rows):
            if None in row or any(v is None for v in row.values()):
                err(f"{f}: row {i + 2} has wrong field count")
        T[f] = rows
    except Exception as e:  # noqa
        err(f"{f}: cannot parse: {e}"); T[f] = []
extra = sorted(os.path.relpath(os.path.join(dp, fn), D) for dp, _, fns in os.walk(D) for fn in fns if os.path.relpath(os.path.join(dp, fn), D) not in SCHEMA)
if extra: notes.append(f"extra files present: {extra}")

if not filecmp.cmp(os.path.join(D, "divisions.csv"), "/work/shared/data/nantong_divisions.csv", shallow=False):
    err("divisions.csv is not a byte-for-byte copy of shared/data/nantong_divisions.csv")

PROV = {"real", "approximate", "synthetic"}
for f, rows in T.items():
    for k in ("provenance", "coords_provenance"):
        if rows and k in rows[0]:
            bad = {r[k] for r in rows} - PROV
            if bad: err(f"{f}: bad {k} values {bad}")

def uniq(f, key):
    c = collections.Counter(key(r) for r in T[f])
    d = [k for k, v in c.items() if v > 1]
    if d: err(f"{f}: duplicate keys {d[:5]}")
uniq("divisions.csv", lambda r: r["code"]); uniq("division_coords.csv", lambda r: r["code"]); uniq("population.csv", lambda r: r["code"])
uniq("items.csv", lambda r: r["code"]); uniq("depots.csv", lambda r: r["code"]); uniq("vehicles.csv", lambda r: r["plate"])
uniq("transport_enterprises.csv", lambda r: r["code"]); uniq("roads/nodes.csv", lambda r: r["id"])
uniq("roads/edges.csv", lambda r: tuple(sorted((r["a"], r["b"])))); uniq("opening_stock.csv", lambda r: r["lot_number"])
uniq("targets.csv", lambda r: (r["tier"], r["depot_code"], r["item_code"])); uniq("agreements.csv", lambda r: (r["depot_code"], r["item_code"]))
uniq("capacity.csv", lambda r: (r["depot_code"], r["item_code"]))

def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
def point_in_poly(lon, lat, poly):
    inside = False
    for i in range(len(poly)):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside
POLY = collections.defaultdict(list)
for r in sorted(T["outlines.csv"], key=lambda r: (r["polygon"], int(r["seq"]))):
    POLY[r["polygon"]].append((float(r["lon"]), float(r["lat"])))
LAND, CHONGMING_N = POLY["land_mainland"], POLY["chongming_north_strip"]
def on_land(lat, lon):
    return point_in_poly(lon, lat, LAND) or point_in_poly(lon, lat, CHONGMING_N)
DIV = {r["code"]: r for r in T["divisions.csv"]}
ITEM = {r["code"]: r for r in T["items.csv"]}
DEP = {r["code"]: r for r in T["depots.csv"]}
NODE = {r["id"]: r for r in T["roads/nodes.csv"]}
def fk(f, col, ref, name, allow_empty=False):
    for r in T[f]:
        if allow_empty and r[col] == "": continue
        if r[col] not in ref: err(f"{f}: {col}={r[col]!r} not in {name}")
fk("division_coords.csv", "code", DIV, "divisions"); fk("population.csv", "code", DIV, "divisions")
fk("depots.csv", "division_code", DIV, "divisions"); fk("transport_enterprises.csv", "division_code", DIV, "divisions")
for f in ("agreements.csv", "capacity.csv", "targets.csv", "opening_stock.csv"):
    fk(f, "item_code", ITEM, "items")
for f in ("agreements.csv", "capacity.csv", "opening_stock.csv", "vehicles.csv"):
    fk(f, "depot_code", DEP, "depots")
fk("targets.csv", "depot_code", DEP, "depots", allow_empty=True)
fk("roads/edges.csv", "a", NODE, "nodes"); fk("roads/edges.csv", "b", NODE, "nodes")
if set(DIV) - {r["code"] for r in T["division_coords.csv"]}: err("division_coords.csv misses divisions")
if set(DIV) - {r["code"] for r in T["population.csv"]}: err("population.csv misses divisions")

# items
for r in T["items.csv"]:
    c = r["code"]
    if not (len(c) == 7 and c.isdigit() and c[0] in "123"): err(f"items: bad code {c}")
    if float(r["unit_weight_kg"]) <= 0 or float(r["unit_volume_m3"]) <= 0: err(f"items: non-positive size {c}")
    if r["shelf_life_days"] and int(r["shelf_life_days"]) <= 0: err(f"items: bad shelf life {c}")
if len(T["items.csv"]) < 24: err("items: fewer than 24")

# kinds
for r in T["depots.csv"]:
    if r["tier"] not in ("city", "county", "township"): err(f"depots: bad tier {r['code']}")
    if r["kind"] not in ("government", "agreement", "capacity", "social", "shelter"): err(f"depots: bad kind {r['code']}")
for r in T["agreements.csv"]:
    if DEP[r["depot_code"]]["kind"] != "agreement": err(f"agreements: {r['depot_code']} is not an agreement depot")
    if not 4 <= int(r["lead_time_hours"]) <= 12: err(f"agreements: lead time {r['lead_time_hours']}")
for r in T["capacity.csv"]:
    if DEP[r["depot_code"]]["kind"] != "capacity": err(f"capacity: {r['depot_code']} is not a capacity depot")
wf = sum(int(r["committed_quantity"]) for r in T["agreements.csv"] if ITEM[r["item_code"]]["category"] in ("water", "food"))
notes.append(f"agreement water+food committed = {wf} (plan: ~80,000 pieces)")
for r in T["targets.csv"]:
    if r["depot_code"] and DEP[r["depot_code"]]["tier"] != r["tier"]: err(f"targets: tier mismatch {r}")
    if int(r["quantity"]) <= 0: err("targets: non-positive quantity")

# township depots: one per township-level row
tw = [c for c, d in DIV.items() if d["level"] == "township"]
tdep = {r["division_code"] for r in T["depots.csv"] if r["tier"] == "township" and r["kind"] == "government"}
if set(tw) != tdep: err(f"township depots mismatch: missing {sorted(set(tw) - tdep)[:5]} extra {sorted(tdep - set(tw))[:5]}")
cdep = {r["division_code"] for r in T["depots.csv"] if r["tier"] == "county" and r["kind"] == "government"}
if cdep != {c for c, d in DIV.items() if d["level"] == "county"}: err("county depots do not cover the 8 county-level units")

# population
P = {r["code"]: int(r["population"]) for r in T["population.csv"]}
if sum(P[c] for c, d in DIV.items() if d["level"] == "county") != P["320600"]: err("population: counties do not sum to city")
for c, d in DIV.items():
    if d["level"] == "county":
        s = sum(P[k] for k, x in DIV.items() if x["parent_code"] == c)
        if s != P[c]: err(f"population: townships of {c} sum {s} != {P[c]}")
notes.append(f"population city total {P['320600']:,}")

# coordinates
def in_bbox(lat, lon): return 31.6 <= lat <= 32.75 and 120.3 <= lon <= 121.95
def river_ok(lat, lon):   # brief: river bank ~ from (31.75N,121.0E) to (32.0N,120.6E); land must be north of it
    if 120.6 <= lon <= 121.0:
        return lat > 31.75 + (121.0 - lon) / 0.4 * 0.25
    return True
pts = []
for r in T["division_coords.csv"]: pts.append(("division", r["code"], float(r["lat"]), float(r["lon"]), False))
for r in T["depots.csv"]: pts.append(("depot", r["code"], float(r["lat"]), float(r["lon"]), False))
for r in T["transport_enterprises.csv"]: pts.append(("transport", r["code"], float(r["lat"]), float(r["lon"]), False))
for r in T["roads/nodes.csv"]: pts.append(("node", r["id"], float(r["lat"]), float(r["lon"]), r["kind"] == "external"))
chong = []
for kind, code, lat, lon, ext in pts:
    if ext:
        if not (31.5 <= lat <= 32.9 and 120.1 <= lon <= 122.0): err(f"{kind} {code}: external node far outside ({lat},{lon})")
        continue
    if not in_bbox(lat, lon): err(f"{kind} {code}: outside Nantong bbox ({lat},{lon})")
    if not on_land(lat, lon): err(f"{kind} {code}: not on land (sea/river) ({lat},{lon})")
    if not river_ok(lat, lon): err(f"{kind} {code}: south of the brief's river line ({lat},{lon})")
    if point_in_poly(lon, lat, CHONGMING_N): chong.append(code)
notes.append(f"points on the north-Chongming exclave strip (allowed, Haimen/Qidong exclaves): {sorted(set(chong))}")

# roads
G = nx.Graph()
for r in T["roads/nodes.csv"]: G.add_node(r["id"])
for e in T["roads/edges.csv"]:
    km, sp = float(e["km"]), float(e["speed_kmh"])
    if km <= 0 or sp <= 0: err(f"edge {e['a']}-{e['b']} non-positive km/speed")
    a, b = NODE[e["a"]], NODE[e["b"]]
    h = haversine_km(float(a["lat"]), float(a["lon"]), float(b["lat"]), float(b["lon"]))
    if e["kind"] != "bridge" and not (h * 0.99 <= km <= h * 1.35 + 0.01): err(f"edge {e['a']}-{e['b']} km {km} vs haversine {h:.2f}")
    if e["kind"] not in ("expressway", "national", "provincial", "local", "bridge"): err(f"edge kind {e['kind']}")
    G.add_edge(e["a"], e["b"], km=km)
comps = list(nx.connected_components(G))
if len(comps) != 1: err(f"road graph not connected: {len(comps)} components, sizes {sorted(len(c) for c in comps)}")
bridges = [e for e in T["roads/edges.csv"] if e["kind"] == "bridge"]
for e in bridges:
    H = G.copy(); H.remove_edge(e["a"], e["b"])
    if nx.is_connected(H): err(f"bridge {e['road']}: closing it does not separate its far end (not a single-edge closure)")
notes.append(f"road graph: {G.number_of_nodes()} nodes, {G.number_of_edges()} edges, connected={len(comps) == 1}; bridges: {[e['road'] for e in bridges]}")
def near_node(lat, lon):
    best = min(((haversine_km(lat, lon, float(n["lat"]), float(n["lon"])), i) for i, n in NODE.items() if G.degree(i) > 0))
    return best
far = []
for r in T["depots.csv"] + T["transport_enterprises.csv"]:
    d, i = near_node(float(r["lat"]), float(r["lon"]))
    if d > 5.0: far.append((r["code"], round(d, 2)))
    if r.get("tier") == "township" and d > 0.01: err(f"township depot {r['code']} not on its own road node ({d:.2f} km)")
if far: err(f"depots farther than 5 km from a connected road node: {far}")

# stock
REF = dt.date(2026, 12, 1)
exp30 = exp90 = expired = 0
stocked = collections.defaultdict(set)
for r in T["opening_stock.csv"]:
    it = ITEM[r["item_code"]]; q = int(r["quantity"])
    if q <= 0: err(f"stock {r['lot_number']} non-positive")
    if DEP[r["depot_code"]]["kind"] not in ("government", "shelter"): err(f"stock at non-government depot {r['depot_code']}")
    rec = dt.date.fromisoformat(r["received_on"])
    if rec > REF: err(f"stock {r['lot_number']} received in the future")
    stocked[r["depot_code"]].add(r["item_code"])
    if it["shelf_life_days"]:
        if not r["expiry"]: err(f"stock {r['lot_number']}: perishable without expiry"); continue
        e = dt.date.fromisoformat(r["expiry"])
        if (e - rec).days != int(it["shelf_life_days"]): err(f"stock {r['lot_number']}: expiry-received != shelf life")
        if e < REF: expired += 1
        elif e <= REF + dt.timedelta(days=30): exp30 += 1
        elif e <= REF + dt.timedelta(days=90): exp90 += 1
    elif r["expiry"]:
        err(f"stock {r['lot_number']}: durable item with expiry")
for c, d in DEP.items():
    if d["kind"] == "government" and not stocked[c]: err(f"government depot {c} has no opening stock")
notes.append(f"lots relative to 2026-12-01: expired {expired}, expiring ≤30 d {exp30}, 31–90 d {exp90}")
# stock vs targets (fill ratio)
tgt = collections.defaultdict(dict)
for r in T["targets.csv"]:
    if r["depot_code"] == "":
        for c, d in DEP.items():
            if d["tier"] == r["tier"] and d["kind"] == "government": tgt[c].setdefault(r["item_code"], int(r["quantity"]))
for r in T["targets.csv"]:
    if r["depot_code"]: tgt[r["depot_code"]][r["item_code"]] = int(r["quantity"])
have = collections.Counter()
for r in T["opening_stock.csv"]: have[(r["depot_code"], r["item_code"])] += int(r["quantity"])
ratios = [have[(c, i)] / q for c, m in tgt.items() for i, q in m.items()]
over = [(c, i) for c, m in tgt.items() for i, q in m.items() if have[(c, i)] > q]
if over: err(f"stock above target: {over[:5]}")
notes.append(f"stock/target ratio over {len(ratios)} (depot,item) pairs: min {min(ratios):.2f} mean {sum(ratios) / len(ratios):.2f} max {max(ratios):.2f}; pairs with no stock {sum(1 for x in ratios if x == 0)}")
for r in T["vehicles.csv"]:
    if float(r["capacity_kg"]) <= 0 or float(r["capacity_m3"]) <= 0: err(f"vehicle {r['plate']} bad capacity")
counts = {f: len(rows) for f, rows in T.items()}
print("row counts:", counts)
for n in notes: print("note:", n)
if errors:
    print(f"FAILED: {len(errors)} problem(s)")
    for e in errors[:60]: print("  -", e)
    sys.exit(1)
print("OK: all checks passed")
