import csv, math, os, shutil, random, datetime as dt
from geo import on_land, offset, haversine_km, county_of
import gen_coords as gc

OUT = "/work/main/seed/data"
REF = dt.date(2026, 12, 1)   # reference date for expiry spread
COUNTY_NAMES = {}

def w(path, header, rows):
    full = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(header)
        for r in rows:
            wr.writerow(r)
    return len(rows)

divs = gc.load_divisions()
DIV = {d["code"]: d for d in divs}
for d in divs:
    COUNTY_NAMES[d["code"]] = d["name"]
coords = gc.place_all(divs)
COUNTIES = [d["code"] for d in divs if d["level"] == "county"]
TOWNSHIPS = [d for d in divs if d["level"] == "township"]

# ---------------------------------------------------------------- 1. divisions
shutil.copyfile(gc.SRC_DIV, os.path.join(OUT, "divisions.csv"))
w("division_coords.csv", ["code", "lat", "lon", "provenance", "source"],
  [[d["code"], f"{coords[d['code']][0]:.5f}", f"{coords[d['code']][1]:.5f}", coords[d["code"]][2], coords[d["code"]][3]] for d in divs])

# ---------------------------------------------------------------- 2. population
CENSUS_URL = ("南通市第七次全国人口普查公报(第二号)——地区人口情况, 2021-05-24, 表2-1 (copy at "
              "http://zgopzs.com/ntstj/tjgb/content/bee00145-67eb-4189-9208-8d1aa20d9e2c.html)")
POP = {"320600": 7726635, "320613": 1183740, "320671": 332273, "320612": 1258739, "320614": 991782,
       "320623": 880006, "320681": 967313, "320682": 1238448, "320685": 874334}
assert sum(v for k, v in POP.items() if k != "320600") == POP["320600"]

def weight(d):
    if d["level"] == "township":
        return 2.0 if int(d["code"][6:9]) < 100 else 1.0
    n = d["name"]
    if any(s in n for s in ("开发区", "园区", "新区", "港", "高新", "产业园", "科技园", "镇区", "度假区")):
        return 0.4
    return 0.05

pop_rows, TPOP = [], {}
pop_rows.append(["320600", DIV["320600"]["name"], POP["320600"], 2020, "real", CENSUS_URL])
for c in COUNTIES:
    pop_rows.append([c, DIV[c]["name"], POP[c], 2020, "real", CENSUS_URL + ("; 开发区 row = 南通经济技术开发区" if c == "320671" else "")])
for c in COUNTIES:
    kids = sorted([d for d in divs if d["parent_code"] == c], key=lambda d: d["code"])
    ws = [weight(d) for d in kids]; tot = sum(ws)
    raw = [POP[c] * x / tot for x in ws]
    base = [int(math.floor(r)) for r in raw]
    rem = POP[c] - sum(base)
    order = sorted(range(len(kids)), key=lambda i: (-(raw[i] - base[i]), kids[i]["code"]))
    for i in order[:rem]:
        base[i] += 1
    for d, p, wt in zip(kids, base, ws):
        TPOP[d["code"]] = p
        pop_rows.append([d["code"], d["name"], p, 2020, "synthetic",
                         f"synthetic split of the real county figure {POP[c]} by weight (街道 2.0, 镇 1.0, zone/park 0.4, farm/other 0.05; this row {wt}); largest remainder; not census data"])
for c in COUNTIES:
    assert sum(TPOP[d["code"]] for d in divs if d["parent_code"] == c) == POP[c]
n_pop = w("population.csv", ["code", "name", "population", "year", "provenance", "source"], pop_rows)

# ---------------------------------------------------------------- 3. items
# code = GB/T 38565-2020 layered 7-digit form: class(1) + 中类(2) + 小类(2) + 细类(2). Class digits are the standard's
# (1 基本生活保障物资, 2 应急装备及配套物资, 3 工程材料与机械加工设备); the sub-codes are the project's own.
RC = "redcross-sha.org.cn/bzjh/View.aspx?id=547 (上海红十字会 常备救灾物资目录2021版)"
ITEMS = [
 # code, zh, en, category, unit, kg, m3, shelf_days, provenance, note
 ("1010101", "单帐篷(12㎡救灾帐篷)", "relief tent, single-layer, 12 m2", "shelter", "顶", 38.0, 0.20, "", "approximate", f"12 m2 per tent as in {RC}; weight/volume are synthetic estimates of a packed 12 m2 relief tent"),
 ("1010102", "棉帐篷(12㎡救灾帐篷)", "relief tent, cotton-insulated, 12 m2", "shelter", "顶", 62.0, 0.32, "", "approximate", f"12 m2 per tent as in {RC}; weight/volume synthetic estimates"),
 ("1010201", "折叠床", "folding bed, single", "shelter", "张", 12.0, 0.06, "", "synthetic", f"single folding bed is in {RC}; weight/volume synthetic estimates"),
 ("1010301", "防雨篷布(4×6 m)", "tarpaulin 4x6 m", "shelter", "块", 3.5, 0.010, "", "synthetic", "PE tarpaulin; weight/volume synthetic estimates"),
 ("1020101", "棉被", "quilt", "bedding", "床", 2.5, 0.030, "", "approximate", f"2 m x 1.8 m, vacuum-packed per {RC}; weight/volume synthetic estimates"),
 ("1020102", "毛毯", "blanket", "bedding", "床", 2.0, 0.015, "", "approximate", f"2 m x 1.5 m, 2 kg per {RC}; volume synthetic estimate"),
 ("1020201", "蚊帐", "mosquito net", "bedding", "顶", 0.5, 0.003, "", "synthetic", "weight/volume synthetic estimates"),
 ("1030101", "棉大衣(棉衣)", "cotton-padded coat", "clothing", "件", 1.5, 0.020, "", "synthetic", "weight/volume synthetic estimates"),
 ("1030201", "雨衣", "raincoat", "clothing", "件", 0.5, 0.002, "", "synthetic", "weight/volume synthetic estimates"),
 ("1030202", "雨靴(胶鞋)", "rubber boots", "clothing", "双", 1.6, 0.008, "", "synthetic", "weight/volume synthetic estimates"),
 ("1040101", "瓶装饮用水(24×550 ml)", "bottled water, case of 24 x 550 ml", "water", "箱", 13.6, 0.023, 540, "synthetic", "13.2 L water + bottles/carton ≈ 13.6 kg; carton ≈ 0.38×0.26×0.23 m; shelf life 540 d synthetic (retail bottled water is usually 12–24 months)"),
 ("1050101", "方便面", "instant noodles, case", "food", "箱", 2.8, 0.050, 180, "synthetic", "case of 24 packs ≈ 100–110 g each + carton; volume ≈ 0.55×0.38×0.24 m; shelf life 180 d; synthetic estimates"),
 ("1050102", "压缩饼干", "compressed biscuits, case", "food", "箱", 10.0, 0.025, 1095, "synthetic", "case ≈ 10 kg; shelf life 1095 d (3 years); synthetic estimates"),
 ("1050103", "自热米饭", "self-heating rice, case", "food", "箱", 5.5, 0.040, 365, "synthetic", "case of 12 meals; shelf life 365 d; synthetic estimates"),
 ("1050201", "婴幼儿配方奶粉(800 g罐)", "infant formula, 800 g can", "food", "罐", 0.95, 0.0025, 720, "synthetic", "shelf life 720 d; synthetic estimates"),
 ("1060101", "个人卫生洗漱包", "hygiene kit", "hygiene", "套", 1.2, 0.006, 1095, "synthetic", "soap, toothpaste, towel, sanitary pads etc.; shelf life 1095 d for the consumables; synthetic estimates"),
 ("1070101", "太阳能LED应急灯", "solar LED emergency light", "lighting", "个", 0.8, 0.003, "", "synthetic", "weight/volume synthetic estimates"),
 ("1070102", "手电筒", "flashlight", "lighting", "个", 0.3, 0.001, "", "synthetic", "weight/volume synthetic estimates"),
 ("1070201", "便携式储能电源(1 kWh)", "portable power station 1 kWh", "power", "台", 10.0, 0.015, "", "synthetic", "weight/volume synthetic estimates"),
 ("2010101", "救生衣", "life jacket", "rescue", "件", 1.0, 0.020, "", "synthetic", "weight/volume synthetic estimates"),
 ("2020101", "急救包", "first-aid kit", "medical", "个", 1.5, 0.006, 1095, "synthetic", "contains medicines/dressings with expiry; shelf life 1095 d synthetic"),
 ("2030101", "柴油发电机组(5 kW)", "diesel generator 5 kW", "power", "台", 110.0, 0.35, "", "synthetic", "weight/volume synthetic estimates"),
 ("2040101", "便携式净水设备", "portable water purifier", "water_equipment", "台", 40.0, 0.15, "", "synthetic", "weight/volume synthetic estimates"),
 ("2050101", "油锯", "chainsaw", "rescue", "台", 7.0, 0.030, "", "synthetic", "weight/volume synthetic estimates"),
 ("2050102", "破拆救援工具组", "rescue tool kit (breaching)", "rescue", "套", 25.0, 0.080, "", "synthetic", "weight/volume synthetic estimates"),
 ("3010101", "防汛编织袋", "woven polypropylene bag (flood)", "flood_material", "条", 0.06, 0.0003, "", "synthetic", "empty bag; weight/volume synthetic estimates"),
 ("3010102", "防汛沙袋(空袋,含内衬)", "sandbag, empty, lined", "flood_material", "条", 0.10, 0.0005, "", "synthetic", "stocked empty and filled on site; weight/volume synthetic estimates"),
]
ITEM = {it[0]: it for it in ITEMS}
n_items = w("items.csv", ["code", "name_zh", "name_en", "category", "unit", "unit_weight_kg", "unit_volume_m3", "shelf_life_days", "provenance", "note"],
            [list(it) for it in ITEMS])
PERISHABLE = [it[0] for it in ITEMS if it[7] != ""]

# ---------------------------------------------------------------- 4. depots
SYN_CONTACT = "值班室 0513-0000{:04d} (synthetic)"
depots = []   # dicts
def add_depot(**kw):
    depots.append(kw)

PLAN = "seeds/000_7d8cebc2d93b85e6.txt"
city = offset(coords["320600"][0], coords["320600"][1], 3.0, 0.0)
add_depot(code="NT-C-001", name="南通市应急物资储备中心(市级救灾物资储备库)", tier="city", kind="government", division_code="320600",
          lat=round(city[0], 5), lon=round(city[1], 5), coords_provenance="synthetic", floor_area_m2=3500, fire=True, flood=True, theft=True,
          contact=SYN_CONTACT.format(1), provenance="real",
          note=f"existence and 3,500 m2 are real: plan {PLAN} line 631 (建成总面积3500平方米的市级救灾物资储备库1个) and line 311 (南通市应急物资储备中心); "
               "also 南通网 2021-04-17 (ww884a.com/content/2021-04/17/content_3045907.htm). Address not found: site placed 3 km north of the city-government point (synthetic). "
               "Protection flags and contact are synthetic")

rng = random.Random(20261201)
for i, c in enumerate(COUNTIES):
    seat = coords[c]
    lat, lon = offset(seat[0], seat[1], 1.5, 45)
    if not on_land(lat, lon, 0.5):
        lat, lon = offset(seat[0], seat[1], 1.5, 315)
    add_depot(code=f"NT-{c}", name=f"{DIV[c]['name']}应急物资储备库(合成)", tier="county", kind="government", division_code=c,
              lat=round(lat, 5), lon=round(lon, 5), coords_provenance="synthetic", floor_area_m2=[1200, 1500, 1800, 2000][i % 4],
              fire=True, flood=True, theft=True, contact=SYN_CONTACT.format(10 + i), provenance="synthetic",
              note="the plan requires at least one depot per county-level unit (line 675 每个县至少建设1座应急物资储备库); name, site (1.5 km from the seat), area, contact synthetic")
for j, d in enumerate(TOWNSHIPS):
    lat, lon = coords[d["code"]][:2]
    add_depot(code=f"NT-{d['code']}", name=f"{d['name']}应急物资储备点(合成)", tier="township", kind="government", division_code=d["code"],
              lat=lat, lon=lon, coords_provenance="approximate", floor_area_m2=[80, 120, 150, 200][j % 4],
              fire=(j % 9 != 4), flood=(j % 7 != 3), theft=(j % 11 != 5), contact=SYN_CONTACT.format(100 + j), provenance="synthetic",
              note="the plan requires a dedicated storage point in every township/street (line 715 每个乡镇设有专用的应急物资储备仓库); sited at the township placeholder point; area, flags, contact synthetic")

SHELTER_NOTE = (f"the plan (line 631) counts 9 central and 154 fixed shelters (618.6万 m2) but names none; no cited list found, "
                "so these 9 central shelters are synthetic placeholders (name, site 2.5 km from the seat, area)")
shelter_hosts = ["320613", "320613", "320671", "320612", "320614", "320623", "320681", "320682", "320685"]
for k, c in enumerate(shelter_hosts):
    seat = coords[c]
    ang = [200, 20, 300, 250, 330, 250, 300, 160, 200][k]
    lat, lon = gc.ring_point(seat[:2], 2.5, ang, c)
    add_depot(code=f"SH-{k + 1:02d}", name=f"中心避难场所{k + 1}号({DIV[c]['name']},合成)", tier="city" if c in ("320613", "320671") else "county",
              kind="shelter", division_code=c, lat=lat, lon=lon, coords_provenance="synthetic", floor_area_m2=[1500, 800, 1000, 1200, 1000, 900, 1000, 1200, 900][k],
              fire=True, flood=True, theft=True, contact=SYN_CONTACT.format(300 + k), provenance="synthetic", note=SHELTER_NOTE + "; floor_area_m2 = indoor storage area")

ENTS = [  # code, name, kind, county, bearing, km
    ("AG-01", "协议企业A(合成)—瓶装饮用水", "agreement", "320613", 300, 5.0),
    ("AG-02", "协议企业B(合成)—瓶装饮用水", "agreement", "320682", 120, 4.0),
    ("AG-03", "协议企业C(合成)—方便食品", "agreement", "320612", 200, 3.5),
    ("AG-04", "协议企业D(合成)—方便食品", "agreement", "320681", 330, 4.0),
    ("AG-05", "协议企业E(合成)—帐篷", "agreement", "320685", 90, 4.0),
    ("AG-06", "协议企业F(合成)—被服", "agreement", "320614", 20, 5.0),
    ("CP-01", "产能储备企业A(合成)—家纺被服", "capacity", "320614", 330, 6.0),
    ("CP-02", "产能储备企业B(合成)—帐篷", "capacity", "320623", 250, 4.0),
    ("CP-03", "产能储备企业C(合成)—瓶装水灌装", "capacity", "320671", 60, 3.0),
    ("SO-01", "社会储备仓库A(合成)—慈善/红十字备灾仓库", "social", "320613", 30, 3.5),
]
for code, name, kind, c, ang, km in ENTS:
    seat = coords[c]
    lat, lon = gc.ring_point(seat[:2], km, ang, c)
    add_depot(code=code, name=name, tier="city" if c in ("320613", "320671") else "county", kind=kind, division_code=c, lat=lat, lon=lon,
              coords_provenance="synthetic", floor_area_m2={"agreement": 5000, "capacity": 8000, "social": 600}[kind],
              fire=True, flood=True, theft=True, contact=SYN_CONTACT.format(400 + len(depots)), provenance="synthetic",
              note={"agreement": "synthetic agreement enterprise (协议储备): the plan reports ~80,000 pieces of water and food under agreement (line 631); stock held under contract, not in the ledger",
                    "capacity": "synthetic capacity producer (产能储备, plan lines 315/715); output after a lead time, see capacity.csv",
                    "social": "synthetic social reserve (社会储备, plan line 225); no stock seeded"}[kind])
DEP = {d["code"]: d for d in depots}
n_dep = w("depots.csv", ["code", "name", "tier", "kind", "division_code", "lat", "lon", "coords_provenance", "floor_area_m2", "fire_protected",
                          "flood_protected", "theft_protected", "contact", "provenance", "note"],
          [[d["code"], d["name"], d["tier"], d["kind"], d["division_code"], f"{d['lat']:.5f}", f"{d['lon']:.5f}", d["coords_provenance"],
            d["floor_area_m2"], str(d["fire"]).lower(), str(d["flood"]).lower(), str(d["theft"]).lower(), d["contact"], d["provenance"], d["note"]] for d in depots])

# ---------------------------------------------------------------- 5. agreements / 6. capacity
AGR = [  # depot, item, qty, lead
    ("AG-01", "1040101", 20000, 6), ("AG-02", "1040101", 20000, 8),
    ("AG-03", "1050101", 15000, 6), ("AG-03", "1050102", 5000, 6),
    ("AG-04", "1050102", 5000, 10), ("AG-04", "1050103", 15000, 10),
    ("AG-05", "1010101", 500, 12), ("AG-05", "1010102", 200, 12),
    ("AG-06", "1020101", 5000, 8), ("AG-06", "1030101", 5000, 8), ("AG-06", "1020102", 3000, 8),
]
assert sum(q for d, i, q, l in AGR if i.startswith("104") or i.startswith("105")) == 80000
n_agr = w("agreements.csv", ["depot_code", "item_code", "committed_quantity", "lead_time_hours", "valid_from", "valid_to", "contract_ref", "provenance"],
          [[d, i, q, l, "2026-01-01", "2027-12-31", f"SYN-XY-2026-{k + 1:03d}", "synthetic"] for k, (d, i, q, l) in enumerate(AGR)])
CAP = [("CP-01", "1020101", 3000, 12), ("CP-01", "1030101", 2000, 12), ("CP-01", "1020102", 2500, 12),
       ("CP-02", "1010101", 200, 12), ("CP-02", "1010102", 80, 12), ("CP-03", "1040101", 6000, 6)]
n_cap = w("capacity.csv", ["depot_code", "item_code", "units_per_day", "lead_time_hours", "provenance"], [[d, i, u, l, "synthetic"] for d, i, u, l in CAP])

# ---------------------------------------------------------------- 7. targets
def ceil(x):
    return int(math.ceil(x - 1e-9))

def pop_items(P):
    H = P / 3.0
    return {"1020101": ceil(P), "1020102": ceil(0.5 * P), "1030101": ceil(0.5 * P), "1010201": ceil(0.1 * P),
            "1010101": ceil(0.1 * H), "1010102": ceil(0.03 * H), "1020201": ceil(0.3 * P), "1040101": ceil(P / 4),
            "1050101": ceil(P / 8), "1050102": ceil(P / 8), "1050103": ceil(P / 12), "1050201": ceil(0.01 * P), "1060101": ceil(H)}

FIX_TOWNSHIP = {"1010101": 5, "1010301": 20, "1030201": 50, "1030202": 30, "1070101": 10, "1070102": 20, "2010101": 20, "2020101": 10, "3010101": 2000, "3010102": 1000}
FIX_COUNTY = {"1070101": 500, "1070102": 1000, "1070201": 50, "1030201": 2000, "1030202": 1000, "2010101": 500, "2020101": 300, "2030101": 10,
              "2040101": 4, "2050101": 10, "2050102": 10, "1010301": 1000, "3010101": 50000, "3010102": 20000}
FIX_CITY = {"1070101": 2000, "1070102": 3000, "1070201": 200, "1030201": 5000, "1030202": 3000, "2010101": 2000, "2020101": 1000, "2030101": 30,
            "2040101": 10, "2050101": 20, "2050102": 20, "1010301": 3000, "3010101": 100000, "3010102": 50000}
SHELTER = {"1040101": 500, "1050101": 300, "1050102": 200, "1020101": 1000, "1070101": 50, "2020101": 50, "1060101": 300}

targets = []   # tier, depot, item, qty, note
for it, q in FIX_TOWNSHIP.items():
    targets.append(("township", "", it, q, "tier rule: fixed township kit (applies to every township depot)"))
for it, q in FIX_COUNTY.items():
    targets.append(("county", "", it, q, "tier rule: fixed county kit (applies to every county government depot)"))
P = ceil(0.002 * POP["320600"])
for it, q in {**pop_items(P), **FIX_CITY}.items():
    targets.append(("city", "NT-C-001", it, q, f"city depot: {'fixed city kit' if it in FIX_CITY else f'per-capita rule with P = 0.2% of city population 7,726,635 = {P}'}"))
for c in COUNTIES:
    P = ceil(0.01 * POP[c])
    for it, q in pop_items(P).items():
        targets.append(("county", f"NT-{c}", it, q, f"per-capita rule with P = 1% of county population {POP[c]} = {P}"))
for d in TOWNSHIPS:
    P = ceil(0.005 * TPOP[d["code"]])
    tp = {k: v for k, v in pop_items(P).items() if k in ("1020101", "1030101", "1040101", "1050101", "1050102", "1060101")}
    for it, q in tp.items():
        targets.append(("township", f"NT-{d['code']}", it, q, f"per-capita rule with P = 0.5% of the (synthetic) township population {TPOP[d['code']]} = {P}"))
for dcode in [d["code"] for d in depots if d["kind"] == "shelter"]:
    for it, q in SHELTER.items():
        targets.append((DEP[dcode]["tier"], dcode, it, q, "fixed central-shelter kit (plan line 675: central shelters keep basic living supplies)"))
n_tgt = w("targets.csv", ["tier", "depot_code", "item_code", "quantity", "provenance", "note"],
          [[t, d, i, q, "synthetic", n] for t, d, i, q, n in targets])

def effective_targets(depot):
    out = {}
    for t, d, i, q, n in targets:
        if d == "" and t == depot["tier"] and depot["kind"] == "government":
            out.setdefault(i, q)
    for t, d, i, q, n in targets:
        if d == depot["code"]:
            out[i] = q
    return out

# ---------------------------------------------------------------- 8. opening stock
stock = []
seq = [0]
def lot():
    seq[0] += 1
    return f"SYN-L{seq[0]:06d}"

FORCED = {  # (depot,item) -> list of expiry offsets (days from 2026-12-01) for the lots
    ("NT-C-001", "1040101"): [19, 300], ("NT-C-001", "1050101"): [76, 150], ("NT-C-001", "1050102"): [-11, 900],
    ("NT-320612", "1050101"): [-6, 120], ("NT-320682", "1040101"): [25, 400], ("NT-320623", "1050103"): [60, 250],
    ("NT-320681", "2020101"): [28, 800], ("NT-320685", "1050201"): [85, 500],
}
srng = random.Random(7726635)
for dep in depots:
    if dep["kind"] not in ("government", "shelter"):
        continue
    for item, tq in sorted(effective_targets(dep).items()):
        if dep["tier"] == "township" and srng.random() < 0.04:
            continue   # a few items missing entirely at some township points
        qty = max(1, int(round(tq * srng.uniform(0.4, 0.9))))
        shelf = ITEM[item][7]
        if shelf == "":
            rec = REF - dt.timedelta(days=srng.randint(40, 1400))
            stock.append([dep["code"], item, lot(), qty, "", rec.isoformat(), "synthetic"])
            continue
        offs = FORCED.get((dep["code"], item))
        if offs is None:
            n = 1 if dep["tier"] == "township" else srng.choice([1, 2, 2, 3])
            offs = []
            for _ in range(n):
                r = srng.random()
                if r < 0.08:
                    offs.append(srng.randint(3, 30))
                elif r < 0.22:
                    offs.append(srng.randint(31, 90))
                else:
                    offs.append(srng.randint(91, max(92, shelf - 5)))
        offs = [min(o, shelf - 5) for o in offs]
        parts = [qty // len(offs)] * len(offs)
        parts[0] += qty - sum(parts)
        for o, p in zip(offs, parts):
            if p <= 0:
                continue
            exp = REF + dt.timedelta(days=o)
            rec = exp - dt.timedelta(days=shelf)
            stock.append([dep["code"], item, lot(), p, exp.isoformat(), rec.isoformat(), "synthetic"])
n_stock = w("opening_stock.csv", ["depot_code", "item_code", "lot_number", "quantity", "expiry", "received_on", "provenance"], stock)

# ---------------------------------------------------------------- 9. vehicles + transport enterprises
veh = []
pn = [0]
def plate():
    pn[0] += 1
    return f"SYN-F{pn[0]:04d}"
HEAVY, MED, LIGHT = (8000, 40, "heavy_truck"), (5000, 30, "medium_truck"), (1500, 8, "light_van")
for spec in [HEAVY, HEAVY, MED, MED, LIGHT, LIGHT]:
    veh.append(["NT-C-001", plate(), spec[0], spec[1], spec[2], "synthetic"])
for c in COUNTIES:
    fleet = [HEAVY, MED, LIGHT, LIGHT] if POP[c] > 1_000_000 else ([MED, LIGHT] if c == "320671" else [MED, LIGHT, LIGHT])
    for spec in fleet:
        veh.append([f"NT-{c}", plate(), spec[0], spec[1], spec[2], "synthetic"])
for j, d in enumerate(TOWNSHIPS):
    if j % 2 == 0:
        veh.append([f"NT-{d['code']}", plate(), LIGHT[0], LIGHT[1], LIGHT[2], "synthetic"])
n_veh = w("vehicles.csv", ["depot_code", "plate", "capacity_kg", "capacity_m3", "kind", "provenance"], veh)

TE = [("TE-01", "应急运输协议物流企业甲(合成)", "320613", 120, 6.0, 2, 20, 10000, 45),
      ("TE-02", "应急运输协议物流企业乙(合成)", "320682", 60, 4.0, 3, 12, 8000, 40),
      ("TE-03", "应急运输协议物流企业丙(合成)", "320614", 270, 4.0, 3, 15, 5000, 30),
      ("TE-04", "应急运输协议物流企业丁(合成)", "320623", 200, 4.0, 4, 8, 8000, 40)]
te_rows = []
for code, name, c, ang, km, lead, nv, kg, m3 in TE:
    lat, lon = gc.ring_point(coords[c][:2], km, ang, c)
    te_rows.append([code, name, c, f"{lat:.5f}", f"{lon:.5f}", lead, nv, kg, m3, "synthetic"])
n_te = w("transport_enterprises.csv", ["code", "name", "division_code", "lat", "lon", "lead_time_hours", "vehicles", "capacity_kg", "capacity_m3", "provenance"], te_rows)

# ---------------------------------------------------------------- 10. roads
SRC_EXITS = "ourjiangsu.com/a/20220403/1648996504758.shtml (南通 2022 expressway exit list by county)"
SRC_DETOUR = "m.163.com/news/article/IBSBUKRU04248E8R.html (G15 雪岸枢纽 closure detours: S28, S15洋通, 兴东枢纽, 平潮北, S19)"
SRC_HUNAN = "m.hunanyuer.com/news/jiaodian/370343.html (G15 小海枢纽–苏通大桥; 平潮枢纽→沪苏通大桥 S19锡通; 启东北枢纽→崇启大桥 S28)"
SRC_HAIQI = "guotingwenwu.com/news/2019-09/29/content_2632313.htm (海启高速 S28: 雪岸枢纽→海安、如皋、如东、通州湾、海门、启东→G40, 130.75 km)"
SRC_RING = "nantong.jiwu.com/news/5696151.html (南通绕城 S19: 海门沿江公路→新联枢纽(沈海×锡通北接线); 洋通二期 S15→洋口港/G328)"
SRC_NAT = "scswl.cn/html/77/2013-07-04/content-47109.html (国家公路网规划: G204 海安、如皋、南通; G228 如东、海门; G328 启东(寅阳)、如东、海安; G345 启东(寅阳)、启东、海门、南通)"
SRC_SUTONG = "wiki.av1.space/content/wikipedia_en_all_mini_2025-06/Sutong_Bridge (centre 31°47′22″N 121°0′8″E; 8,206 m; carries G15)"
SRC_CHONGQI = "wikiland.org/fr/Chongqi_Bridge (31.7055 N, 121.6626 E); en.wikipedia.org/wiki/Chongming–Qidong_Yangtze_River_Bridge (6.84 km across the north branch; carries G40)"
SRC_HUTONG = "globaltimes.cn/content/1163619.shtml (11,072 m); jiangsu.chinadaily.com.cn/zhangjiagang/2020-07/02/c_917206.htm (Nantong–Zhangjiagang)"

nodes = {}   # id -> [name, lat, lon, kind, prov, source]
def node(i, name, lat, lon, kind, prov, src):
    nodes[i] = [name, round(lat, 5), round(lon, 5), kind, prov, src]

WP = "approximate: waypoint placed by the project on the corridor described in "
# seats
def SN(c):
    return "S-320600" if c == "320613" else f"S-{c}"   # 崇川区 shares the city-government point, so one node serves both
for c in ["320600"] + [x for x in COUNTIES if x != "320613"]:
    lat, lon, prov, src = coords[c]
    node(f"S-{c}", f"{DIV[c]['name']}(驻地)" + ("/崇川区" if c == "320600" else ""), lat, lon, "city" if c == "320600" else "seat", prov, "see division_coords.csv: " + src[:120])
# bridges
node("B-SUTONG-N", "苏通长江公路大桥北端", 31.840, 121.005, "bridge_end", "approximate", "derived from the cited centre point + half the cited length (N–S alignment assumed), nudged onto the north bank; " + SRC_SUTONG)
node("B-SUTONG-S", "苏通长江公路大桥南端(常熟, 外部)", 31.752, 121.000, "external", "approximate", "derived as above; " + SRC_SUTONG)
node("B-CHONGQI-N", "崇启大桥北端(启东)", 31.742, 121.664, "bridge_end", "approximate", "derived from the cited centre point ± half the 6.84 km crossing, nudged onto the north bank; " + SRC_CHONGQI)
node("B-CHONGQI-S", "崇启大桥南端(崇明岛, 外部)", 31.675, 121.661, "external", "approximate", "derived as above; " + SRC_CHONGQI)
node("B-HUTONG-N", "沪苏通长江公铁大桥北端", 31.992, 120.720, "bridge_end", "approximate", "no coordinate found; placed on the north bank west of the city (S19 reaches it from 平潮枢纽 per " + SRC_HUNAN + "); " + SRC_HUTONG)
node("B-HUTONG-S", "沪苏通长江公铁大桥南端(张家港, 外部)", 31.905, 120.700, "external", "approximate", "no coordinate found; south bank opposite the north end; " + SRC_HUTONG)
node("X-JINGJIANG", "靖江(江阴大桥方向, 外部)", 32.009, 120.263, "external", "real", "Jingjiang infobox latd 32.009 longd 120.263 via kotoba.ne.jp/word/11/Jingjiang; used only as the gateway toward the Jiangyin bridge (outside Nantong)")
node("X-YC-G15", "盐城方向(G15, 外部)", 32.85, 120.62, "external", "approximate", "gateway node north of the city boundary (G15 continues to Yancheng)")
node("X-YC-G228", "盐城方向(G228, 外部)", 32.85, 120.88, "external", "approximate", "gateway node north of the city boundary (coastal G228)")
node("X-TZ-G40", "泰州方向(G40, 外部)", 32.32, 120.18, "external", "approximate", "gateway node west of the city boundary (G40 toward Taizhou/Yangzhou)")
node("X-TZ-S28", "泰州方向(S28, 外部)", 32.56, 120.15, "external", "approximate", "gateway node west of the city boundary (S28 toward 姜堰/Yangzhou)")
# expressway + national road waypoints
R = [
 ("R-G15-01", "G15 海安北段途经点", 32.690, 120.600, SRC_EXITS), ("R-G15-02", "G15 海安段途经点", 32.530, 120.560, SRC_EXITS),
 ("R-J-G15-S28", "G15×S28 枢纽(雪岸, 位置近似)", 32.400, 120.640, SRC_DETOUR), ("R-G15-04", "G15 如皋段途经点", 32.250, 120.690, SRC_EXITS),
 ("R-G15-05", "G15 如皋南段途经点", 32.130, 120.780, SRC_EXITS), ("R-J-XINLIAN", "G15×S19 枢纽(新联, 位置近似)", 32.100, 120.840, SRC_RING),
 ("R-J-G15-G40", "G15×G40 交汇(位置近似)", 32.070, 120.900, SRC_HUNAN), ("R-J-XINGDONG", "G15×S15 枢纽(兴东, 位置近似)", 32.050, 121.000, SRC_DETOUR),
 ("R-G15-08", "G15 开发区段途经点", 31.920, 121.020, SRC_HUNAN), ("R-J-XIAOHAI", "G15 小海枢纽(位置近似)", 31.865, 121.020, SRC_HUNAN),
 ("R-G40-01", "G40 如皋西段途经点", 32.200, 120.360, SRC_EXITS), ("R-G40-02", "G40 如皋港段途经点", 32.120, 120.550, SRC_EXITS),
 ("R-J-PINGCHAO", "G40×S19 平潮枢纽(位置近似)", 32.080, 120.760, SRC_HUNAN), ("R-G40-04", "G40 通州段途经点", 32.000, 121.060, SRC_EXITS),
 ("R-G40-05", "G40 海门段途经点", 31.930, 121.250, SRC_EXITS), ("R-G40-06", "G40 海门东段途经点", 31.900, 121.420, SRC_EXITS),
 ("R-J-QIDONGBEI", "G40×S28 启东北枢纽(位置近似)", 31.880, 121.580, SRC_HUNAN), ("R-G40-08", "G40 启东段途经点", 31.800, 121.640, SRC_CHONGQI),
 ("R-S28-01", "S28 海安西段途经点", 32.560, 120.320, SRC_EXITS), ("R-S28-02", "S28 海安南段途经点", 32.480, 120.470, SRC_EXITS),
 ("R-S28-03", "S28 如皋东段途经点", 32.340, 120.760, SRC_HAIQI), ("R-S28-04", "S28 如东段途经点", 32.330, 120.980, SRC_HAIQI),
 ("R-J-S28-S15", "S28×S15 交汇(位置近似)", 32.290, 121.100, SRC_HAIQI), ("R-S28-05", "S28 通州湾段途经点", 32.180, 121.320, SRC_HAIQI),
 ("R-S28-06", "S28 海门段途经点", 32.060, 121.420, SRC_HAIQI), ("R-S28-07", "S28 启东段途经点", 31.970, 121.520, SRC_HAIQI),
 ("R-S15-02", "S15 洋通段途经点", 32.170, 121.060, SRC_DETOUR), ("R-S15-03", "S15 如东东段途经点", 32.350, 121.160, SRC_EXITS),
 ("R-S15-04", "S15 洋口港端(位置近似)", 32.530, 121.020, SRC_RING),
 ("R-S19-02", "S19 绕城通州段途经点", 32.130, 121.000, SRC_RING), ("R-S19-03", "S19 绕城通州东段途经点", 32.050, 121.160, SRC_RING),
 ("R-S19-04", "S19 绕城海门段途经点", 31.930, 121.200, SRC_RING), ("R-S19-05", "S19 海门沿江端(位置近似)", 31.860, 121.280, SRC_RING),
 ("R-G204-01", "G204 海安北段途经点", 32.680, 120.440, SRC_NAT), ("R-G204-02", "G204 海安—如皋段途经点", 32.400, 120.550, SRC_NAT),
 ("R-G204-03", "G204 如皋—南通段途经点", 32.120, 120.720, SRC_NAT),
 ("R-G328-01", "G328 启东寅阳段途经点", 31.750, 121.850, SRC_NAT), ("R-G328-02", "G328 启东北段途经点", 32.100, 121.620, SRC_NAT),
 ("R-G328-03", "G328 通州湾段途经点", 32.200, 121.400, SRC_NAT), ("R-G328-04", "G328 如东沿海段途经点", 32.380, 121.240, SRC_NAT),
 ("R-G328-05", "G328 洋口段途经点", 32.520, 121.000, SRC_NAT), ("R-G328-06", "G328 海安沿海段途经点", 32.600, 120.850, SRC_NAT),
 ("R-G328-07", "G328 海安东段途经点", 32.560, 120.620, SRC_NAT),
 ("R-G345-02", "G345 启东—海门段途经点", 31.840, 121.420, SRC_NAT), ("R-G345-03", "G345 海门—南通段途经点", 31.950, 121.020, SRC_NAT),
 ("R-G228-01", "G228 如东北段途经点", 32.600, 120.900, SRC_NAT), ("R-G228-02", "G228 如东西北段途经点", 32.480, 120.900, SRC_NAT),
 ("R-G228-03", "G228 如东中段途经点", 32.400, 121.050, SRC_NAT), ("R-G228-04", "G228 通州东段途经点", 32.150, 121.220, SRC_NAT),
 ("R-G228-05", "G228 海门北段途经点", 32.000, 121.300, SRC_NAT),
]
for i, name, lat, lon, src in R:
    node(i, name, lat, lon, "junction" if "-J-" in i else "waypoint", "approximate", WP + src)

edges = {}
def edge(a, b, road, kind, km=None, prov="approximate", src=""):
    key = tuple(sorted((a, b)))
    if key in edges or a == b:
        return
    la, lo = nodes[a][1], nodes[a][2]; lb, lob = nodes[b][1], nodes[b][2]
    if km is None:
        f = 1.3 if kind == "local" else 1.2
        km = haversine_km(la, lo, lb, lob) * f
        src = (src + "; " if src else "") + f"km = haversine × {f}"
    speed = {"expressway": 90, "bridge": 90, "national": 60, "provincial": 50, "local": 40}[kind]
    edges[key] = [a, b, road, round(km, 2), speed, kind, prov, src]

def chain(ids, road, kind, src):
    for a, b in zip(ids, ids[1:]):
        edge(a, b, road, kind, src=src)

chain(["X-YC-G15", "R-G15-01", "R-G15-02", "R-J-G15-S28", "R-G15-04", "R-G15-05", "R-J-XINLIAN", "R-J-G15-G40", "R-J-XINGDONG", "R-G15-08", "R-J-XIAOHAI", "B-SUTONG-N"],
      "G15 沈海高速", "expressway", "route drawn approximately through waypoints; " + SRC_EXITS)
edge("B-SUTONG-N", "B-SUTONG-S", "苏通长江公路大桥(G15)", "bridge", km=8.21, prov="real", src="bridge length 8,206 m (cited); " + SRC_SUTONG)
chain(["X-TZ-G40", "R-G40-01", "R-G40-02", "R-J-PINGCHAO", "R-J-G15-G40", "R-G40-04", "R-G40-05", "R-G40-06", "R-J-QIDONGBEI", "R-G40-08", "B-CHONGQI-N"],
      "G40 沪陕高速", "expressway", "route drawn approximately (宁通段 via 如皋港/葛市, 通启段 via 海门/启东); " + SRC_EXITS)
edge("B-CHONGQI-N", "B-CHONGQI-S", "崇启大桥(G40)", "bridge", km=6.84, prov="real", src="river crossing 6.84 km (cited); " + SRC_CHONGQI)
chain(["X-TZ-S28", "R-S28-01", "R-S28-02", "R-J-G15-S28", "R-S28-03", "R-S28-04", "R-J-S28-S15", "R-S28-05", "R-S28-06", "R-S28-07", "R-J-QIDONGBEI"],
      "S28 启扬高速(海启段)", "expressway", "route drawn approximately; " + SRC_HAIQI)
chain(["R-J-XINGDONG", "R-S15-02", "R-J-S28-S15", "R-S15-03", "R-S15-04"], "S15 洋通高速", "expressway", "route drawn approximately; " + SRC_DETOUR)
chain(["B-HUTONG-N", "R-J-PINGCHAO"], "S19 锡通高速(北接线)", "expressway", "route drawn approximately; " + SRC_HUNAN)
edge("B-HUTONG-N", "B-HUTONG-S", "沪苏通长江公铁大桥(S19)", "bridge", km=11.07, prov="real", src="bridge length 11,072 m (cited); " + SRC_HUTONG)
chain(["R-J-PINGCHAO", "R-J-XINLIAN", "R-S19-02", "R-S19-03", "R-S19-04", "R-S19-05"], "S19 通锡高速/南通绕城", "expressway", "route drawn approximately; " + SRC_RING)
chain(["R-G204-01", "S-320685", "R-G204-02", "S-320682", "R-G204-03", "S-320600"], "G204", "national", "route drawn approximately; " + SRC_NAT)
chain(["R-G328-01", "R-G328-02", "R-G328-03", "R-G328-04", "R-G328-05", "R-G328-06", "R-G328-07", "S-320685"], "G328", "national", "route drawn approximately (coastal 临海公路); " + SRC_NAT)
chain(["R-G328-01", "S-320681", "R-G345-02", "S-320614", "R-G345-03", "S-320600"], "G345", "national", "route drawn approximately; " + SRC_NAT)
chain(["X-YC-G228", "R-G228-01", "R-G228-02", "R-G228-03", "S-320623", "R-G228-04", "R-G228-05", "S-320614"], "G228", "national", "route drawn approximately; " + SRC_NAT)
edge("R-G40-01", "X-JINGJIANG", "往江阴大桥方向(经靖江, 近似)", "provincial", src="connector toward the Jiangyin bridge, drawn approximately")
# seats to the trunk network (urban connectors)
for s, targets_ in [("S-320600", ["R-J-G15-G40", "R-G345-03", "S-320671"]), ("S-320671", ["R-G15-08", "R-G345-03"]),
                    ("S-320612", ["R-G40-04", "R-J-XINGDONG", "R-S19-03"]), ("S-320614", ["R-G40-05", "R-S19-05"]), ("S-320623", ["R-S15-03", "R-S28-04"]),
                    ("S-320681", ["R-G40-08", "R-J-QIDONGBEI"]), ("S-320682", ["R-G15-04", "R-G40-02"]), ("S-320685", ["R-S28-02", "R-G15-02"])]:
    for t in targets_:
        edge(s, t, "城区连接道路(近似)", "provincial", src="connector drawn approximately")

TRUNK = [i for i, v in nodes.items() if v[3] in ("city", "seat", "junction", "waypoint")]
CHONG = {"320614102"}
# township nodes
for d in TOWNSHIPS:
    lat, lon = coords[d["code"]][:2]
    node(f"T-{d['code']}", d["name"], lat, lon, "township", "approximate", "township placeholder point, see division_coords.csv")
def nearest(i, pool, k=1):
    la, lo = nodes[i][1], nodes[i][2]
    return sorted((p for p in pool if p != i), key=lambda p: haversine_km(la, lo, nodes[p][1], nodes[p][2]))[:k]
for d in TOWNSHIPS:
    t = f"T-{d['code']}"
    if d["code"] in CHONG:
        edge(t, "B-CHONGQI-S", "崇明岛北沿道路(近似, 海永镇经崇明岛与崇启大桥相连)", "local", src="Haiyong is on Chongming island (kiwix Haimen page); reached via the Chongqi bridge")
        continue
    for p in nearest(t, TRUNK, 1):
        edge(t, p, "县乡道路(近似)", "local", src="local link to the nearest trunk node")
    same = [f"T-{x['code']}" for x in TOWNSHIPS if x["parent_code"] == d["parent_code"] and x["code"] not in CHONG]
    for p in nearest(t, same, 1):
        edge(t, p, "县乡道路(近似)", "local", src="local link to the nearest township of the same county")
    sn = SN(d["parent_code"])
    if haversine_km(nodes[t][1], nodes[t][2], nodes[sn][1], nodes[sn][2]) < 12:
        edge(t, sn, "县乡道路(近似)", "local", src="local link to the county seat (within 12 km)")
# non-township depots and transport enterprises as nodes
MAIN = [i for i in nodes if nodes[i][3] in ("city", "seat", "junction", "waypoint", "township") and i != "T-320614102"]
for dep in depots:
    if dep["tier"] == "township":
        continue
    i = f"D-{dep['code']}"
    node(i, dep["name"], dep["lat"], dep["lon"], "shelter" if dep["kind"] == "shelter" else "depot",
         dep["coords_provenance"], "depot site, see depots.csv")
    for p in nearest(i, MAIN, 2):
        edge(i, p, "场站连接道路(近似)", "local", src="depot access link to the two nearest road nodes")
for r in te_rows:
    i = f"E-{r[0]}"
    node(i, r[1], float(r[3]), float(r[4]), "enterprise", "synthetic", "synthetic logistics company, see transport_enterprises.csv")
    for p in nearest(i, MAIN, 2):
        edge(i, p, "场站连接道路(近似)", "local", src="access link to the two nearest road nodes")

n_nodes = w("roads/nodes.csv", ["id", "name", "lat", "lon", "kind", "provenance", "source"],
            [[i, v[0], f"{v[1]:.5f}", f"{v[2]:.5f}", v[3], v[4], v[5]] for i, v in nodes.items()])
n_edges = w("roads/edges.csv", ["a", "b", "road", "km", "speed_kmh", "kind", "provenance", "source"], [e for e in edges.values()])
print(dict(population=n_pop, items=n_items, depots=n_dep, agreements=n_agr, capacity=n_cap, targets=n_tgt, opening_stock=n_stock,
           vehicles=n_veh, transport_enterprises=n_te, nodes=n_nodes, edges=n_edges, division_coords=len(divs)))

# ---------------------------------------------------------------- 11. outlines used by the derivations (documentation of the method)
from geo import LAND, CHONGMING_N, COUNTY_POLY
orows = []
for name, poly, note in [("land_mainland", LAND, "rough mainland outline; sea to the NE/E, Yangtze to the S/SW"),
                         ("chongming_north_strip", CHONGMING_N, "rough north strip of Chongming island (Shanghai) holding the 海永/启隆 exclaves")] + \
                        [(f"county_{c}", p, f"rough outline of {DIV[c]['name']}, used only intersected with land_mainland") for c, p in COUNTY_POLY.items()]:
    for k, (lon, lat) in enumerate(poly):
        orows.append([name, k, f"{lon:.4f}", f"{lat:.4f}", "approximate", note if k == 0 else ""])
n_out = w("outlines.csv", ["polygon", "seq", "lon", "lat", "provenance", "note"], orows)
print("outlines", n_out)
