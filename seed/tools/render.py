import csv
from geo import LAND, CHONGMING_N, COUNTY_POLY
D="/work/main/seed/data"
nodes={r["id"]:r for r in csv.DictReader(open(f"{D}/roads/nodes.csv",encoding="utf-8"))}
edges=list(csv.DictReader(open(f"{D}/roads/edges.csv",encoding="utf-8")))
W,H=1400,1100; x0,x1,y0,y1=120.1,122.0,31.6,32.9
def X(lon): return (lon-x0)/(x1-x0)*W
def Y(lat): return H-(lat-y0)/(y1-y0)*H
out=[f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}"><rect width="100%" height="100%" fill="#cfe8ff"/>']
for poly,col in [(LAND,"#f3f0e0"),(CHONGMING_N,"#e0f0d0")]:
    out.append('<polygon points="%s" fill="%s" stroke="#333"/>'%(" ".join(f"{X(a):.1f},{Y(b):.1f}" for a,b in poly),col))
for c,poly in COUNTY_POLY.items():
    out.append('<polygon points="%s" fill="none" stroke="#c66" stroke-dasharray="4,3"/>'%(" ".join(f"{X(a):.1f},{Y(b):.1f}" for a,b in poly)))
colr={"expressway":"#d00","bridge":"#a0a","national":"#070","provincial":"#888","local":"#bbb"}
for e in edges:
    a,b=nodes[e["a"]],nodes[e["b"]]
    out.append(f'<line x1="{X(float(a["lon"])):.1f}" y1="{Y(float(a["lat"])):.1f}" x2="{X(float(b["lon"])):.1f}" y2="{Y(float(b["lat"])):.1f}" stroke="{colr[e["kind"]]}" stroke-width="{3 if e["kind"] in ("expressway","bridge") else 1.5}"/>')
kc={"township":"#00f","seat":"#000","city":"#000","junction":"#d00","waypoint":"#d80","bridge_end":"#a0a","external":"#555","depot":"#0a0","shelter":"#0cc","enterprise":"#f0f"}
for i,n in nodes.items():
    r=6 if n["kind"] in ("seat","city") else 3
    out.append(f'<circle cx="{X(float(n["lon"])):.1f}" cy="{Y(float(n["lat"])):.1f}" r="{r}" fill="{kc[n["kind"]]}"/>')
    if n["kind"] in ("seat","city","township"):
        out.append(f'<text x="{X(float(n["lon"]))+4:.1f}" y="{Y(float(n["lat"]))-3:.1f}" font-size="9">{i.split("-")[1][-3:] if n["kind"]=="township" else i}</text>')
out.append("</svg>")
open("/tmp/seedgen/map.svg","w").write("\n".join(out))
