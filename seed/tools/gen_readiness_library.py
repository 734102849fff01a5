"""Write seed/data/readiness_library.csv: the readiness scenario library (docs/readiness.md).

Run from the repository root: ``.venv/bin/python seed/tools/gen_readiness_library.py``.
Deterministic. Which townships a hazard affects follows the written rules below, applied to
the seed's township points and rough outlines (both approximate placeholders, see
docs/seed-data.md); the shares and their sources are the table SHARES.
"""

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dispatch import scenarios as sc  # noqa: E402  (reads seed/data: towns, coast, river)

OUT = ROOT / "seed" / "data" / "readiness_library.csv"

COASTAL = ("320685", "320623", "320612", "320614", "320681")  # plan line 757: 沿海五个县(市、区)
YANGTZE = ("320682", "320613", "320671", "320612", "320614", "320681")  # 长江岸线 166 km
SEATS = {r["code"]: (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(
    (ROOT / "seed" / "data" / "division_coords.csv").open(encoding="utf-8"))}

PLAN = "shared/seeds/000_7d8cebc2d93b85e6.txt"
WIPHA = ("超强台风“韦帕”2007: 温州转移590,554人、台州391,646人 (现代金报 2007-09-19, "
         "cn.epochtimes.com/b5/7/9/19/n1839054.htm)")
FUNGWONG = ("台风“凤凰”2014: 宁波转移81,776人、舟山49,600人, 舟山开放224个避灾安置场所可容纳6.49万人 "
            "(district.ce.cn/newarea/roll/201409/23/t20140923_3582531.shtml)")
JS2012 = ("台风“达维”“苏拉”2012: 江苏海堤外滩涂、危房、工棚转移5万人, 均安置在亲戚、朋友以及学校校舍中 "
          "(中新网 2012-08-02, xinnong.net/news/20120803/1055458.html)")
QD2018 = ("台风“安比”2018: 启东惠萍镇862名建筑工人转移至香格小学安置点 "
          "(央广网 2018-07-23, js.cnr.cn/2011jsfw/dfyw/20180723/t20180723_524309244.shtml)")
HAIL2021 = ("2021-04-30 南通冰雹、雷暴大风: 通州十总、海安城东和大公等地冰雹, 紧急转移安置3,050人 "
            "(@南通发布 via 新安晚报, x9aky.com/newsflash/20210501/2229408.html)")

# hazard -> (name suffix, displaced share, basis, source, sheltered share, basis, source)
SHARES = {
    "typhoon": ("台风", 0.04, "assumption",
                f"假设: 沿海受影响乡镇常住人口的4%需转移安置并需救灾物资; 参照 {WIPHA}; {FUNGWONG}",
                0.8, "assumption",
                f"假设: 登陆前转移者80%已在避难场所/学校等室内安置(无需帐篷); 参照 {JS2012}; {QD2018}"),
    "storm_surge": ("风暴潮", 0.08, "assumption",
                    f"假设: 海堤后临海乡镇8%人口转移; 规划第757行: 县级风暴潮风险评估尚待完成, 无公开数字 ({PLAN})",
                    0.85, "assumption", f"假设: 预警后有组织转移, 85%进入避难场所; 参照 {JS2012}"),
    "yangtze_flood": ("长江洪水", 0.06, "assumption",
                      f"假设: 沿江乡镇6%人口转移; 规划第629、751行: 长江干堤可防御50年一遇高潮位 ({PLAN})",
                      0.6, "assumption", "假设: 60%进入避难场所, 其余需帐篷"),
    "river_flood": ("区域洪涝", 0.02, "assumption",
                    f"假设: 2%人口转移; 规划第629行: “十三五”20多次区域性暴雨未出现严重城市内涝; "
                    f"第753行: 里下河、沿江低洼地为重点洼地 ({PLAN})",
                    0.6, "assumption", "假设: 60%进入避难场所, 其余需帐篷"),
    "earthquake": ("地震", 0.03, "assumption",
                   f"假设: 震中周边乡镇3%人口无家可归; 规划第35、625行: 辖区仅监测到有感地震 ({PLAN})",
                   0.2, "assumption", "假设: 余震期间多数人不入室, 仅20%在避难场所室内安置"),
    "wind_hail": ("风雹", round(3050 / (62780 + 86999 + 86998), 4), "derived",
                  f"推算: 3,050人 ÷ 十总镇、城东镇、大公镇人口合计236,777 (乡镇人口为合成拆分, "
                  f"见 docs/seed-data.md) = 1.29%; 依据 {HAIL2021}",
                  0.5, "assumption", "假设: 房屋倒损, 一半人需帐篷"),
    "forest_fire": ("森林火灾", 0.01, "assumption",
                    f"假设: 山脚社区1%人口疏散; 规划第275、281、767行: 五山地区森林防火, 年受害率≤0.3% ({PLAN})",
                    0.9, "assumption", "假设: 疏散至附近学校等室内场所"),
}

NAMES = {"320613": "崇川区", "320671": "开发区", "320612": "通州区", "320614": "海门区",
         "320623": "如东县", "320681": "启东市", "320682": "如皋市", "320685": "海安市"}


def main() -> None:
    """Apply the township rules and write the CSV."""
    seed = sc._load(sc.DATA_DIR, sc.ONSETS["typhoon"])
    towns = {}
    for t in seed.towns:
        towns.setdefault(t.county, []).append(t)

    def near(county, line, km, rule):
        picked = [t for t in towns[county] if sc._polyline_km(t.lat, t.lon, line) <= km]
        if not picked:  # the nearest township when none is within reach
            picked = [min(towns[county], key=lambda t: sc._polyline_km(t.lat, t.lon, line))]
        return picked, rule

    def around_seat(county, km):
        lat, lon = SEATS[county]
        return [t for t in towns[county] if sc._km(lat, lon, t.lat, t.lon) <= km]

    rows = []

    def add(county, hazard, picked, rule):
        name, d, db, ds, s, sb, ss = SHARES[hazard]
        rows.append({
            "code": f"{county}-{hazard}", "county_code": county, "hazard": hazard,
            "name": f"{NAMES[county]}{name}", "townships": ";".join(sorted(t.code for t in picked)),
            "displaced_share": f"{d:g}", "displaced_basis": db, "displaced_source": ds,
            "sheltered_share": f"{s:g}", "sheltered_basis": sb, "sheltered_source": ss,
            "townships_source": rule + " (乡镇点位为近似占位, 见 docs/seed-data.md)",
        })

    for c in sorted(NAMES):
        if c in COASTAL:
            add(c, "typhoon", *near(c, seed.sea, 15.0,
                                    "规则: 距海岸线15 km内的乡镇(无则取最近一个); 规划第51、641、757行"))
            add(c, "storm_surge", *near(c, seed.sea, 8.5,
                                        "规则: 距海岸线8.5 km内的乡镇(无则取最近一个); 规划第757行"))
        if c in YANGTZE:
            add(c, "yangtze_flood", *near(c, seed.river, 10.0,
                                          "规则: 距长江岸线10 km内的乡镇(无则取最近一个); 规划第629、751行"))
        if c == "320685":
            lat = SEATS[c][0]
            add(c, "river_flood", [t for t in towns[c] if t.lat >= lat],
                "规则: 县城以北乡镇(里下河地区在通扬运河以北); 规划第753行")
        elif c in ("320682", "320612"):
            add(c, "river_flood", around_seat(c, 10.0),
                "规则: 距县城10 km内的乡镇(通扬运河、通吕运河沿线设防, 规划第753行)")
        elif c == "320613":
            add(c, "river_flood", around_seat(c, 5.0),
                "规则: 距市中心5 km内的街道(城市内涝, 规划第37、629行)")
        add(c, "earthquake", around_seat(c, 20.0) or towns[c],
            "规则: 震中设在县城, 20 km内的乡镇; 规划第35、625、785行")
    by_name = {t.name: t for ts in towns.values() for t in ts}
    add("320612", "wind_hail", [by_name["十总镇"]], f"规则: 2021-04-30 冰雹点名的乡镇; {HAIL2021}")
    add("320685", "wind_hail", [by_name["城东镇"], by_name["大公镇"]],
        f"规则: 2021-04-30 冰雹点名的乡镇; {HAIL2021}")
    add("320613", "forest_fire", [by_name["狼山镇街道"]],
        "规则: 五山地区(狼山等)所在街道; 规划第275、281、767行")
    rows.sort(key=lambda r: r["code"])
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*rows[0], "provenance"], lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "provenance": "approximate"})
    print(f"{len(rows)} scenarios -> {OUT}")


if __name__ == "__main__":
    main()
