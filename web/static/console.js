/* relief console: the maps (Leaflet, no tile server) and small form helpers.
 * Page data comes from <script type="application/json" id="map-data"> (no inline scripts:
 * the Content-Security-Policy allows scripts from this origin only). */
(function () {
  "use strict";

  var TIER = { city: "#b42318", county: "#e8590c", township: "#2f9e44", province: "#7048e8" };
  var ROUTE = ["#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#c2255c",
    "#5c940d", "#364fc7", "#862e9c"];
  var ROAD = {
    expressway: { color: "#d9822b", weight: 3 }, national: { color: "#c99a3c", weight: 2.4 },
    provincial: { color: "#b8a46a", weight: 2 }, bridge: { color: "#8c6d1f", weight: 3.2 },
    local: { color: "#a8a29e", weight: 1.2 }
  };

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function fmt(n) { return Number(n || 0).toLocaleString(); }

  /* ---- base map: land, city and county outlines (real boundaries), roads, labels ---- */
  function baseMap(el, base, labels, opts) {
    var map = L.map(el, { zoomSnap: 0.25, attributionControl: false, minZoom: 7, maxZoom: 14,
      preferCanvas: !!(opts && opts.canvas) });
    el.classList.add("water");
    L.polygon(base.land, { stroke: false, fillColor: "#f6f1e3", fillOpacity: 1,
      interactive: false, className: "land" }).addTo(map);
    var city = L.polygon(base.city, { color: "#7a5c2e", weight: 2, fill: false,
      interactive: false, className: "city-outline" }).addTo(map);
    var counties = L.featureGroup().addTo(map);
    base.counties.forEach(function (c) {
      L.polygon(c.polygons, { color: "#9c8b62", weight: 1.2, dashArray: "4 3", fill: false,
        interactive: false, className: "county-outline" }).addTo(counties);
    });
    var roads = L.featureGroup().addTo(map);
    var edges = [];
    var nodes = base.roads.nodes;
    base.roads.edges.forEach(function (e) {
      var a = nodes[e[0]], b = nodes[e[1]];
      if (!a || !b) { return; }
      var style = ROAD[e[2]] || ROAD.local;
      var line = L.polyline([[a[0], a[1]], [b[0], b[1]]], { color: style.color,
        weight: style.weight, opacity: 0.9, interactive: false }).addTo(roads);
      edges.push({ a: e[0], b: e[1], kind: e[2], road: e[3], line: line,
        names: [a[2], b[2]] });
    });
    (labels.counties || []).forEach(function (c) {
      if (c.lat == null) { return; }
      L.marker([c.lat, c.lon], { interactive: false, keyboard: false,
        icon: L.divIcon({ className: "county-label", html: esc(c.name), iconSize: null })
      }).addTo(map);
    });
    var bounds = city.getBounds();
    map.fitBounds(bounds.isValid() ? bounds : [[31.6, 120.3], [32.8, 121.9]], { padding: [8, 8] });
    return { map: map, roads: roads, edges: edges, nodes: nodes };
  }

  /* The base layer is one cached JSON file for every page. */
  function withBase(data, then) {
    fetch(data.base, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(then);
  }

  /* ---- readiness: counties coloured by their worst scenario's covered share ---- */
  var BAND = { ok: "#47b881", warn: "#f5b642", bad: "#e5534b", none: "#d0d5dd" };
  function initReadiness(el, data) {
    var base = baseMap(el, data.base, data.labels || {});
    var lab = data.labels || {};
    var byCode = {};
    data.counties.forEach(function (c) { byCode[c.code] = c; });
    data.base.counties.forEach(function (p) {
      var c = byCode[p.code];
      if (!c) { return; }
      var text = "<strong>" + esc(c.name) + "</strong><br>";
      if (c.share == null) {
        text += esc(lab.no_run);
      } else {
        text += esc(lab.covered) + ": " + (c.share * 100).toFixed(1) + "% (" + fmt(c.covered) +
          " / " + fmt(c.people) + ")<br>" + esc(c.hazard) +
          (c.binding ? "<br>" + esc(lab.binding) + ": " + esc(c.binding) : "");
      }
      L.polygon(p.polygons, { color: "#5f5545", weight: 1, fillColor: BAND[c.band] || BAND.none,
        fillOpacity: 0.55, className: "readiness-county" }).bindTooltip(text, { sticky: true })
        .addTo(base.map);
    });
    el.dataset.ready = "1";
  }

  /* ---- the one map of supplies ---- */
  function depotStyle(d, item, maxQty) {
    var color = TIER[d.tier] || "#555";
    var radius = d.tier === "city" ? 9 : d.tier === "county" ? 7 : 5;
    if (item) {
      radius = d.available > 0 ? 4 + 10 * Math.sqrt(d.available / Math.max(maxQty, 1)) : 3;
      if (d.available <= 0) { color = "#98a2b3"; }
    }
    var style = { radius: radius, color: color, weight: 2, fillColor: color, fillOpacity: 0.85,
      className: "depot-marker depot-" + d.kind };
    if (d.kind === "agreement") { style.fillColor = "#fff"; style.fillOpacity = 1; style.weight = 3; }
    if (d.kind === "capacity") { style.fillColor = "#fff"; style.fillOpacity = 1; style.dashArray = "3 2"; }
    if (d.kind === "social") { style.fillOpacity = 0.35; }
    if (d.short_items > 0 && !item) { style.color = "#7a271a"; }
    return style;
  }

  function popupLoader(marker, url, loading) {
    marker.bindPopup('<div class="popup muted">' + esc(loading) + "</div>", { maxWidth: 360 });
    marker.on("popupopen", function (ev) {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { ev.popup.setContent(html); })
        .catch(function () { ev.popup.setContent('<div class="popup">!</div>'); });
    });
  }

  function initOverview(el, data) {
    var L_ = data.labels;
    var m = baseMap(el, data.base, data.labels, { canvas: false });
    var depots = L.featureGroup(), shelters = L.featureGroup(), incidents = L.featureGroup();
    var maxQty = 0;
    data.depots.forEach(function (d) { maxQty = Math.max(maxQty, d.available); });
    data.depots.forEach(function (d) {
      var url = "/console/map/depots/" + encodeURIComponent(d.code) +
        (data.item ? "?item=" + encodeURIComponent(data.item) : "");
      var marker;
      if (d.kind === "shelter") {
        marker = L.marker([d.lat, d.lon], { icon: L.divIcon({ className: "shelter-icon",
          iconSize: [12, 12] }), title: d.name }).addTo(shelters);
      } else {
        marker = L.circleMarker([d.lat, d.lon], depotStyle(d, data.item, maxQty)).addTo(depots);
      }
      marker.bindTooltip(esc(d.name) + "<br>" + esc(d.tier_label) + " · " + esc(d.kind_label) +
        (data.item ? "<br>" + esc(L_.available) + ": " + fmt(d.available) + " " + esc(data.unit) : ""));
      popupLoader(marker, url, L_.loading);
    });
    data.incidents.forEach(function (inc) {
      inc.sites.forEach(function (s) {
        // Leaflet positions markers with a transform, so the diamond is an inner element.
        L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "incident-marker",
          html: '<span class="incident-icon"></span>', iconSize: [14, 14] }), title: s.name })
          .bindPopup('<div class="popup"><h3>' + esc(inc.name) + "</h3>" + esc(inc.kind) +
            "<br>" + esc(s.name) + " · " + esc(L_.people) + " " + fmt(s.people) +
            '<br><a href="/console/incidents/' + Number(inc.id) + '">' + esc(L_.open_desk) +
            "</a></div>")
          .addTo(incidents);
      });
    });
    depots.addTo(m.map); shelters.addTo(m.map); incidents.addTo(m.map);
    var overlays = {};
    overlays[L_.layer_depots] = depots; overlays[L_.layer_shelters] = shelters;
    overlays[L_.layer_incidents] = incidents; overlays[L_.layer_roads] = m.roads;
    L.control.layers(null, overlays, { collapsed: window.innerWidth < 700 }).addTo(m.map);
    L.control.scale({ imperial: false }).addTo(m.map);
    el.dataset.ready = "1";
  }

  /* ---- the dispatch desk ---- */
  function setValue(id, value) {
    var el = document.getElementById(id);
    if (el) { el.value = value; el.dispatchEvent(new Event("change", { bubbles: true })); }
  }

  function initDesk(el, data) {
    var L_ = data.labels;
    var m = baseMap(el, data.base, data.labels, { canvas: false });
    var map = m.map;
    var status = document.getElementById("map-status");
    var mode = null, temp = null, polyPoints = [], polyLayer = null, picked = null;

    function say(text) { if (status) { status.textContent = text || ""; } }
    function setMode(next) {
      mode = mode === next ? null : next;
      document.querySelectorAll("[data-map-mode]").forEach(function (b) {
        b.classList.toggle("on", b.getAttribute("data-map-mode") === mode);
      });
      map.getContainer().style.cursor = mode ? "crosshair" : "";
      say(mode ? L_["mode_" + mode] : "");
      if (mode !== "polygon" && polyLayer && !polyPoints.length) { map.removeLayer(polyLayer); }
    }
    document.querySelectorAll("[data-map-mode]").forEach(function (b) {
      b.addEventListener("click", function () { setMode(b.getAttribute("data-map-mode")); });
    });

    // Closed roads and polygons
    var closedKeys = {};
    data.closures.forEach(function (c) {
      (c.edges || []).forEach(function (e) { closedKeys[e[0] + "|" + e[1]] = c; closedKeys[e[1] + "|" + e[0]] = c; });
      if (c.polygon) {
        L.polygon(c.polygon, { color: "#d92d20", weight: 1.5, fillOpacity: 0.12, dashArray: "5 4",
          interactive: false }).addTo(map);
      }
    });
    m.edges.forEach(function (e) {
      var closed = closedKeys[e.a + "|" + e.b];
      if (closed) {
        L.polyline(e.line.getLatLngs(), { color: "#d92d20", weight: 5, opacity: 0.9,
          dashArray: "6 4", className: "closed-road" })
          .bindTooltip(esc(L_.closed) + ": " + esc(e.road) + (closed.reason ? " (" + esc(closed.reason) + ")" : ""))
          .addTo(map);
      }
      // A wide transparent line on top makes every edge easy to click in "edge" mode.
      var hit = L.polyline(e.line.getLatLngs(), { weight: 12, opacity: 0, className: "road-hit" })
        .addTo(map);
      hit.bindTooltip(esc(e.road || "") + "<br>" + esc(e.a) + " – " + esc(e.b), { sticky: true });
      hit.on("click", function (ev) {
        if (mode !== "edge") { return; }
        L.DomEvent.stopPropagation(ev);
        if (picked) { map.removeLayer(picked); }
        picked = L.polyline(e.line.getLatLngs(), { color: "#d92d20", weight: 6, opacity: 0.8,
          interactive: false }).addTo(map);
        setValue("closure-mode", "edge");
        setValue("closure-a", e.a);
        setValue("closure-b", e.b);
        say(L_.picked_edge + ": " + (e.road || "") + " " + e.a + " – " + e.b);
        openForm("closure-form");
      });
    });

    // Sources of the selected plan
    data.sources.forEach(function (s) {
      if (s.lat == null) { return; }
      L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "source-icon " + esc(s.tier),
        iconSize: [16, 16] }), title: s.name })
        .bindTooltip(esc(s.name) + " (" + esc(s.id) + ")").addTo(map);
    });

    // Affected sites: green when the approved trips cover them by the deadline, light green
    // when the plan on show (a draft) would, red when a plan leaves them uncovered, blue when
    // no plan has them yet.
    var siteBounds = [];
    data.sites.forEach(function (s) {
      var state = s.approved === true ? "covered" : s.draft === true ? "draft" :
        (s.approved === false || s.draft === false) ? "uncovered" : "unplanned";
      var color = { covered: "#15803d", draft: "#86efac", uncovered: "#b42318",
        unplanned: "#1971c2" }[state];
      L.circleMarker([s.lat, s.lon], { radius: 8 + Math.min(10, Math.sqrt(s.people) / 8),
        color: "#fff", weight: 2, fillColor: color, fillOpacity: 0.9,
        className: "site-marker site-" + state })
        .bindTooltip(esc(s.name) + " · " + esc(L_.people) + " " + fmt(s.people))
        .addTo(map);
      siteBounds.push([s.lat, s.lon]);
    });
    data.sources.forEach(function (s) { if (s.lat != null) { siteBounds.push([s.lat, s.lon]); } });
    if (siteBounds.length) {
      map.fitBounds(L.latLngBounds(siteBounds).pad(0.25), { maxZoom: 11 });
    }

    // Routes along the roads, fetched once: one depot's, one vehicle's or one trip's at a time.
    var routeLayer = L.featureGroup().addTo(map);
    var routeTrips = [];
    var depotSelect = document.getElementById("route-depot");
    var vehicleSelect = document.getElementById("route-vehicle");
    var routeNote = document.getElementById("route-note");
    function drawRoutes(trips, bold) {
      routeLayer.clearLayers();
      trips.forEach(function (t) {
        var color = ROUTE[t.color % ROUTE.length];
        L.polyline(t.path, { color: color, weight: bold ? 6 : 4, opacity: 0.85,
          className: "route-line" })
          .bindTooltip(esc(t.vehicle) + ": " + esc(t.source) + " → " + t.stops.map(esc).join(" → "),
            { sticky: true })
          .addTo(routeLayer);
        t.stops.forEach(function (_, i) {
          var p = t.path[t.path.length - t.stops.length + i];
          L.marker(p, { interactive: false, icon: L.divIcon({ className: "stop-icon",
            html: '<span class="stop-num" style="background:' + color + '">' + (i + 1) +
              "</span>", iconSize: [20, 20] }) }).addTo(routeLayer);
        });
      });
      if (routeNote) { routeNote.textContent = trips.length ? "" : L_.routes_pick; }
      el.dataset.routes = String(trips.length);
    }
    function filtered() {
      var depot = depotSelect ? depotSelect.value : "", vehicle = vehicleSelect ? vehicleSelect.value : "";
      if (!depot && !vehicle) { return routeTrips.length <= 40 ? routeTrips : []; }
      return routeTrips.filter(function (t) {
        return (!depot || t.depot === depot) && (!vehicle || t.vehicle === vehicle);
      });
    }
    function option(select, value, text) {
      var o = document.createElement("option"); o.value = value; o.textContent = text;
      select.appendChild(o);
    }
    if (data.routes_url) {
      fetch(data.routes_url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (body) {
          routeTrips = body.trips;
          var depots = {}, vehicles = {};
          routeTrips.forEach(function (t) { depots[t.depot] = t.source; vehicles[t.vehicle] = 1; });
          if (depotSelect) { Object.keys(depots).sort().forEach(function (d) { option(depotSelect, d, depots[d]); }); }
          if (vehicleSelect) { Object.keys(vehicles).sort().forEach(function (v) { option(vehicleSelect, v, v); }); }
          drawRoutes(filtered(), false);
          el.dataset.routesReady = "1";
        });
    }
    [depotSelect, vehicleSelect].forEach(function (sel) {
      if (sel) { sel.addEventListener("change", function () { drawRoutes(filtered(), false); }); }
    });
    // A trip's row shows its route alone, highlighted, and the row is marked.
    document.addEventListener("click", function (ev) {
      var button = ev.target.closest ? ev.target.closest(".show-route") : null;
      if (!button) { return; }
      var id = Number(button.getAttribute("data-trip"));
      var index = button.getAttribute("data-route");
      var trip = index != null ? routeTrips[Number(index)] :
        routeTrips.filter(function (t) { return t.shipment === id; })[0];
      document.querySelectorAll("tbody.trip.highlight, tr.highlight").forEach(function (r) {
        r.classList.remove("highlight");
      });
      var row = button.closest("tbody.trip") || button.closest("tr");
      if (row) { row.classList.add("highlight"); }
      if (!trip) { return; }
      drawRoutes([trip], true);
      map.fitBounds(L.polyline(trip.path).getBounds().pad(0.2), { maxZoom: 12 });
      el.scrollIntoView({ block: "nearest" });
      el.dataset.shown = trip.shipment != null ? String(trip.shipment) : String(index);
    });

    // Clicks: an ad-hoc point, or a polygon vertex
    map.on("click", function (ev) {
      var lat = ev.latlng.lat.toFixed(5), lon = ev.latlng.lng.toFixed(5);
      if (mode === "point") {
        if (temp) { map.removeLayer(temp); }
        temp = L.circleMarker(ev.latlng, { radius: 9, color: "#1971c2", weight: 3,
          fillOpacity: 0.2, className: "picked-point" }).addTo(map);
        setValue("site-mode", "point");
        setValue("site-lat", lat);
        setValue("site-lon", lon);
        say(L_.picked_point + ": " + lat + ", " + lon);
        openForm("site-form");
      } else if (mode === "polygon") {
        polyPoints.push([Number(lat), Number(lon)]);
        if (polyLayer) { map.removeLayer(polyLayer); }
        polyLayer = L.polygon(polyPoints, { color: "#d92d20", weight: 2, dashArray: "4 3",
          fillOpacity: 0.1 }).addTo(map);
        say(L_.polygon_points + ": " + polyPoints.length);
      }
    });
    var finish = document.getElementById("polygon-finish");
    if (finish) {
      finish.addEventListener("click", function () {
        if (polyPoints.length < 3) { say(L_.polygon_need3); return; }
        setValue("closure-mode", "polygon");
        setValue("closure-polygon", JSON.stringify(polyPoints));
        say(L_.polygon_done + ": " + polyPoints.length);
        polyPoints = [];
        mode = "polygon"; setMode("polygon");
        openForm("closure-form");
      });
    }
    var clear = document.getElementById("polygon-clear");
    if (clear) {
      clear.addEventListener("click", function () {
        polyPoints = [];
        if (polyLayer) { map.removeLayer(polyLayer); polyLayer = null; }
        setValue("closure-polygon", "");
        say("");
      });
    }
    el.dataset.ready = "1";
  }

  /* ---- forms: show only the fields of the chosen kind ---- */
  function openForm(id) {
    var el = document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  function switcher(select) {
    var scope = select.closest("form");
    function apply() {
      scope.querySelectorAll("[data-when]").forEach(function (box) {
        var show = box.getAttribute("data-when").split(" ").indexOf(select.value) >= 0;
        box.classList.toggle("hidden", !show);
        box.querySelectorAll("input, select, textarea").forEach(function (input) {
          input.disabled = !show;
        });
      });
    }
    select.addEventListener("change", apply);
    apply();
  }

  /* ---- the first field with an error gets the focus, its summary stays in view ---- */
  function focusFirstError(root) {
    var scope = root && root.querySelector ? root : document;
    var bad = scope.querySelector("[aria-invalid='true']");
    if (bad) {
      var details = bad.closest("details");
      if (details) { details.open = true; }
      bad.focus({ preventScroll: true });
      bad.scrollIntoView({ block: "center" });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-switch]").forEach(switcher);
    var data = readJSON("map-data");
    var el = document.getElementById("map");
    if (data && el && window.L) {
      withBase(data, function (base) {
        data.base = base;
        if (data.page === "overview") { initOverview(el, data); }
        if (data.page === "desk") { initDesk(el, data); }
        if (data.page === "readiness") { initReadiness(el, data); }
      });
    }
    // htmx sends the session's CSRF token with every request it makes.
    var meta = document.querySelector('meta[name="csrf-token"]');
    document.body.addEventListener("htmx:configRequest", function (ev) {
      if (meta) { ev.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
    });
    // After a failed post the page is the form with its errors: the address bar shows the
    // page's own address, so a reload or a bookmark asks for the page, not the post.
    var canonical = document.body.getAttribute("data-canonical");
    if (canonical && window.history && history.replaceState) {
      history.replaceState(null, "", canonical + window.location.hash);
    }
    focusFirstError(document);
    // A finished planning job: htmx stops polling (286) and the result opens at once.
    var shown = 0;
    document.body.addEventListener("htmx:beforeSwap", function (ev) {
      var bar = document.querySelector("#plan-progress progress");
      if (bar && ev.detail.target && ev.detail.target.id === "plan-progress") {
        shown = Math.max(shown, Number(bar.value) || 0);
      }
    });
    document.body.addEventListener("htmx:afterSettle", function (ev) {
      var box = document.getElementById("plan-progress");
      if (box) {
        var bar = box.querySelector("progress");
        if (bar && Number(bar.value) < shown) { bar.value = shown; }  // never backwards
        if (box.getAttribute("data-next")) { window.location.assign(box.getAttribute("data-next")); }
      }
      if (ev.detail && ev.detail.elt) { focusFirstError(ev.detail.elt); }
    });
    document.body.addEventListener("htmx:responseError", function (ev) {
      var status = ev.detail && ev.detail.xhr ? ev.detail.xhr.status : "";
      window.alert((document.body.getAttribute("data-request-failed") || "!") + " (" + status + ")");
    });
    // Confirmation for forms that commit what cannot be undone (approve, scrap, damage...);
    // data-confirm-when="field=value" asks only when that field has that value.
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (ev) {
        var when = f.getAttribute("data-confirm-when");
        if (when) {
          var parts = when.split("="), field = f.elements[parts[0]];
          if (!field || field.value !== parts[1]) { return; }
        }
        if (!window.confirm(f.getAttribute("data-confirm"))) { ev.preventDefault(); }
      });
    });
    document.querySelectorAll(".print-button").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    // A lot's Scrap button fills in the scrap form.
    document.addEventListener("click", function (ev) {
      var button = ev.target.closest ? ev.target.closest(".scrap-prefill") : null;
      if (!button) { return; }
      setValue("scrap-lot_key", button.getAttribute("data-lot-key"));
      setValue("scrap-quantity", button.getAttribute("data-quantity"));
      openForm("op-scrap");
      var reason = document.getElementById("scrap-reason");
      if (reason) { reason.focus(); reason.scrollIntoView({ block: "center" }); }
    });
    // A receipt's expiry already past is flagged at once (the server asks to confirm it).
    var expiry = document.getElementById("receive-expiry");
    if (expiry) {
      expiry.addEventListener("change", function () {
        var past = expiry.value && expiry.value < new Date().toISOString().slice(0, 10);
        expiry.classList.toggle("warn", !!past);
      });
    }
  });
})();
