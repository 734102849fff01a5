import csv, zlib, struct, numpy as np
from geo import LAND, CHONGMING_N, COUNTY_POLY, point_in_poly
D="/work/main/seed/data"
nodes={r["id"]:r for r in csv.DictReader(open(f"{D}/roads/nodes.csv",encoding="utf-8"))}
edges=list(csv.DictReader(open(f"{D}/roads/edges.csv",encoding="utf-8")))
W,H=1300,1000; x0,x1,y0,y1=120.1,122.0,31.6,32.9
img=np.zeros((H,W,3),np.uint8); img[:]=(200,225,255)
def X(lon): return int((lon-x0)/(x1-x0)*(W-1))
def Y(lat): return int((H-1)-(lat-y0)/(y1-y0)*(H-1))
# fill land by scanning a coarse grid
for yy in range(0,H,2):
    lat=y0+(H-1-yy)/(H-1)*(y1-y0)
    for xx in range(0,W,2):
        lon=x0+xx/(W-1)*(x1-x0)
        if point_in_poly(lon,lat,LAND) or point_in_poly(lon,lat,CHONGMING_N):
            img[yy:yy+2,xx:xx+2]=(243,240,224)
def line(a,b,col,t=1):
    (xa,ya),(xb,yb)=a,b; n=max(abs(xb-xa),abs(yb-ya),1)
    for k in range(n+1):
        x=round(xa+(xb-xa)*k/n); y=round(ya+(yb-ya)*k/n)
        img[max(0,y-t//2):y+t//2+1, max(0,x-t//2):x+t//2+1]=col
for c,poly in COUNTY_POLY.items():
    for p,q in zip(poly,poly[1:]+poly[:1]): line((X(p[0]),Y(p[1])),(X(q[0]),Y(q[1])),(230,150,150))
colr={"expressway":(210,0,0),"bridge":(160,0,160),"national":(0,130,0),"provincial":(120,120,120),"local":(170,170,200)}
for e in sorted(edges,key=lambda e:["local","provincial","national","expressway","bridge"].index(e["kind"])):
    a,b=nodes[e["a"]],nodes[e["b"]]
    line((X(float(a["lon"])),Y(float(a["lat"]))),(X(float(b["lon"])),Y(float(b["lat"]))),colr[e["kind"]],3 if e["kind"] in("expressway","bridge") else 1)
kc={"township":(0,0,255),"seat":(0,0,0),"city":(0,0,0),"junction":(210,0,0),"waypoint":(220,130,0),"bridge_end":(160,0,160),"external":(80,80,80),"depot":(0,160,0),"shelter":(0,200,200),"enterprise":(255,0,255)}
for i,n in nodes.items():
    x,y=X(float(n["lon"])),Y(float(n["lat"])); r=5 if n["kind"] in("seat","city") else 2
    img[max(0,y-r):y+r+1,max(0,x-r):x+r+1]=kc[n["kind"]]
raw=b"".join(b"\x00"+img[y].tobytes() for y in range(H))
png=b"\x89PNG\r\n\x1a\n"
def chunk(t,d): return struct.pack(">I",len(d))+t+d+struct.pack(">I",zlib.crc32(t+d)&0xffffffff)
png+=chunk(b"IHDR",struct.pack(">IIBBBBB",W,H,8,2,0,0,0))+chunk(b"IDAT",zlib.compress(raw,6))+chunk(b"IEND",b"")
open("/tmp/seedgen/map.png","wb").write(png)
