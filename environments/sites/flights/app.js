// Skylark Air: a small flight-booking site that runs with no network, for first runs and tests.
// Pages live in the address's hash (#search, #results?..., #passengers?..., #review?..., #done?...), so the
// browser's back and forward work as on a real site.
"use strict";

const AIRPORTS = [
  ["LIS", "Lisbon", "Portugal"], ["OPO", "Porto", "Portugal"], ["CDG", "Paris", "France"],
  ["LHR", "London", "United Kingdom"], ["MAD", "Madrid", "Spain"], ["BCN", "Barcelona", "Spain"],
  ["BER", "Berlin", "Germany"], ["FCO", "Rome", "Italy"], ["AMS", "Amsterdam", "Netherlands"],
  ["JFK", "New York", "United States"], ["HND", "Tokyo", "Japan"], ["PEK", "Beijing", "China"],
  ["GRU", "São Paulo", "Brazil"], ["ZRH", "Zurich", "Switzerland"],
];
const AIRLINES = ["Skylark Air", "Skylark Connect", "Atlantic Partner", "Skylark Air"];
const app = document.getElementById("app");

function airport(text) {
  const t = (text || "").trim().toLowerCase();
  if (!t) return null;
  return AIRPORTS.find(([code, city]) => code.toLowerCase() === t || city.toLowerCase() === t
    || `${city} (${code})`.toLowerCase() === t) || null;
}
const label = (a) => `${a[1]} (${a[0]})`;
const money = (n) => `€${n}`;
function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}
function params() {
  const q = location.hash.split("?")[1] || "";
  return Object.fromEntries(new URLSearchParams(q));
}
function go(page, values) {
  location.hash = values ? `${page}?${new URLSearchParams(values)}` : page;
}

// The same search always lists the same flights (a hash of the route and day seeds them).
function seeded(text) {
  let h = 2166136261;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return () => { h = Math.imul(h ^ (h >>> 15), 2246822507); h = Math.imul(h ^ (h >>> 13), 3266489909);
    return ((h ^= h >>> 16) >>> 0) / 4294967296; };
}
function flightsFor(from, to, date) {
  const rand = seeded(`${from}-${to}-${date}`);
  const base = 70 + Math.floor(rand() * 600);
  const list = [];
  for (let i = 0; i < 6; i++) {
    const stops = rand() < 0.35 ? 1 : 0;
    const minutes = base + stops * (60 + Math.floor(rand() * 120)) + Math.floor(rand() * 40);
    const depart = 6 * 60 + Math.floor(rand() * 15 * 60 / 5) * 5;
    const price = Math.round(40 + base * 0.25 + rand() * 260 - stops * 30);
    list.push({ id: `SK${100 + Math.floor(rand() * 900)}`, airline: AIRLINES[i % AIRLINES.length], stops, minutes,
      depart, arrive: depart + minutes, price });
  }
  return list;
}
const clock = (m) => `${String(Math.floor(m / 60) % 24).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`
  + (m >= 24 * 60 ? " +1" : "");
const duration = (m) => `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;

function cityField(id, text, value) {
  return `<div class="field"><label for="${id}">${text}</label>
    <input id="${id}" name="${id}" autocomplete="off" placeholder="City or airport" value="${escapeHtml(value || "")}">
    <ul class="suggestions" id="${id}-list" role="listbox" hidden></ul></div>`;
}

// A suggestion list like real sites have: typed letters filter it, a click or Enter picks.
function autocomplete(input) {
  const list = document.getElementById(`${input.id}-list`);
  const show = () => {
    const t = input.value.trim().toLowerCase();
    const hits = AIRPORTS.filter(([code, city, country]) => t && (city.toLowerCase().startsWith(t)
      || code.toLowerCase().startsWith(t) || country.toLowerCase().startsWith(t)));
    list.innerHTML = hits.map((a, i) => `<li role="option" data-value="${escapeHtml(label(a))}"${i === 0 ? ' class="active"' : ""}>`
      + `${escapeHtml(a[1])} <small>${a[0]} · ${escapeHtml(a[2])}</small></li>`).join("");
    list.hidden = hits.length === 0;
  };
  input.addEventListener("input", show);
  input.addEventListener("focus", show);
  input.addEventListener("keydown", (e) => {
    const active = list.querySelector("li.active");
    if (e.key === "Enter" && !list.hidden && active) { input.value = active.dataset.value; list.hidden = true; e.preventDefault(); }
    if (e.key === "Escape") list.hidden = true;
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && active) {
      const next = e.key === "ArrowDown" ? active.nextElementSibling : active.previousElementSibling;
      if (next) { active.classList.remove("active"); next.classList.add("active"); }
      e.preventDefault();
    }
  });
  // mousedown, not click: the input's blur would hide the list before a click lands.
  list.addEventListener("mousedown", (e) => {
    const li = e.target.closest("li");
    if (li) { input.value = li.dataset.value; list.hidden = true; e.preventDefault(); }
  });
  input.addEventListener("blur", () => { list.hidden = true; });
}

function searchPage() {
  document.title = "Skylark Air: book a flight";
  const p = params();
  app.innerHTML = `<h1>Where to?</h1>
  <form class="card" id="search" novalidate>
    <div class="row">${cityField("from", "From", p.from && label(airport(p.from) || ["", p.from]))}
      ${cityField("to", "To", p.to && label(airport(p.to) || ["", p.to]))}</div>
    <div class="row" style="margin-top:12px">
      <div class="field"><label for="date">Departure date</label>
        <input id="date" name="date" type="date" min="${today()}" value="${escapeHtml(p.date || "")}"></div>
      <div class="field"><label for="pax">Passengers</label>
        <select id="pax" name="pax">${[1, 2, 3, 4].map((n) => `<option value="${n}">${n} adult${n > 1 ? "s" : ""}</option>`).join("")}</select></div>
      <div class="field" style="justify-content:flex-end"><button type="submit">Search flights</button></div>
    </div>
    <p class="error" id="search-error" role="alert"></p>
  </form>`;
  autocomplete(document.getElementById("from"));
  autocomplete(document.getElementById("to"));
  document.getElementById("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const from = airport(document.getElementById("from").value), to = airport(document.getElementById("to").value);
    const date = document.getElementById("date").value, pax = document.getElementById("pax").value;
    const error = !from ? "Choose where you fly from." : !to ? "Choose where you fly to."
      : from === to ? "From and To are the same airport." : !date ? "Choose a departure date."
      : date < today() ? "That date has passed; choose a later one." : "";
    document.getElementById("search-error").textContent = error;
    if (!error) go("#results", { from: from[0], to: to[0], date, pax });
  });
}

function resultsPage() {
  const p = params(), from = airport(p.from), to = airport(p.to);
  if (!from || !to || !p.date) return go("#search");
  document.title = `Flights ${from[1]} to ${to[1]}`;
  const order = p.sort || "price";
  const list = flightsFor(from[0], to[0], p.date)
    .sort((a, b) => order === "price" ? a.price - b.price : order === "time" ? a.minutes - b.minutes : a.depart - b.depart);
  const pax = Number(p.pax || 1);
  app.innerHTML = `<h1>${escapeHtml(from[1])} → ${escapeHtml(to[1])}, ${escapeHtml(p.date)}</h1>
  <p><a href="#search?${new URLSearchParams({ from: from[0], to: to[0], date: p.date })}">Change search</a></p>
  <div class="tabs" style="margin-bottom:12px">Sort by:
    ${[["price", "Cheapest"], ["time", "Fastest"], ["depart", "Earliest"]].map(([k, t]) =>
      `<button type="button" data-sort="${k}" aria-pressed="${k === order}">${t}</button>`).join("")}</div>
  ${list.map((f) => `<div class="card flight">
      <div><div class="times">${clock(f.depart)} – ${clock(f.arrive)}</div>
        <div class="meta">${escapeHtml(f.airline)} ${f.id} · ${duration(f.minutes)} · ${f.stops ? "1 stop" : "Direct"}</div></div>
      <div style="text-align:right"><div class="price">${money(f.price * pax)}</div>
        <button type="button" data-flight="${f.id}">Select</button></div></div>`).join("")}`;
  app.querySelectorAll("[data-sort]").forEach((b) => b.addEventListener("click", () => go("#results", { ...p, sort: b.dataset.sort })));
  app.querySelectorAll("[data-flight]").forEach((b) => b.addEventListener("click", () =>
    go("#passengers", { from: p.from, to: p.to, date: p.date, pax, flight: b.dataset.flight })));
}

function chosen(p) {
  const from = airport(p.from), to = airport(p.to);
  const flight = from && to && p.date ? flightsFor(from[0], to[0], p.date).find((f) => f.id === p.flight) : null;
  return flight ? { from, to, flight, pax: Number(p.pax || 1) } : null;
}

function passengersPage() {
  const p = params(), trip = chosen(p);
  if (!trip) return go("#search");
  document.title = "Who is flying?";
  const saved = JSON.parse(sessionStorage.getItem("passenger") || "{}");
  app.innerHTML = `<h1>Who is flying?</h1>
  <form class="card" id="passenger" novalidate>
    <div class="row">
      <div class="field"><label for="first">First name</label><input id="first" autocomplete="given-name" value="${escapeHtml(saved.first || "")}"></div>
      <div class="field"><label for="last">Last name</label><input id="last" autocomplete="family-name" value="${escapeHtml(saved.last || "")}"></div></div>
    <div class="row" style="margin-top:12px">
      <div class="field"><label for="email">Email for the ticket</label><input id="email" type="email" autocomplete="email" value="${escapeHtml(saved.email || "")}"></div></div>
    <p class="error" id="passenger-error" role="alert"></p>
    <button type="submit">Continue</button>
  </form>`;
  document.getElementById("passenger").addEventListener("submit", (e) => {
    e.preventDefault();
    const first = document.getElementById("first").value.trim(), last = document.getElementById("last").value.trim();
    const email = document.getElementById("email").value.trim();
    const error = !first ? "Enter the first name as in the passport." : !last ? "Enter the last name as in the passport."
      : !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email) ? "Enter an email address like name@example.com." : "";
    document.getElementById("passenger-error").textContent = error;
    if (error) return;
    sessionStorage.setItem("passenger", JSON.stringify({ first, last, email }));
    go("#review", p);
  });
}

function reviewPage() {
  const p = params(), trip = chosen(p), who = JSON.parse(sessionStorage.getItem("passenger") || "null");
  if (!trip) return go("#search");
  if (!who) return go("#passengers", p);
  document.title = "Review your booking";
  const total = trip.flight.price * trip.pax;
  app.innerHTML = `<h1>Review your booking</h1>
  <div class="card"><dl class="summary">
    <dt>Flight</dt><dd>${escapeHtml(trip.flight.airline)} ${trip.flight.id}: ${escapeHtml(label(trip.from))} → ${escapeHtml(label(trip.to))}</dd>
    <dt>Departs</dt><dd>${escapeHtml(p.date)} at ${clock(trip.flight.depart)}</dd>
    <dt>Passenger</dt><dd>${escapeHtml(who.first)} ${escapeHtml(who.last)} (${escapeHtml(who.email)})${trip.pax > 1 ? ` and ${trip.pax - 1} more` : ""}</dd>
    <dt>Total</dt><dd>${money(total)}</dd></dl>
    <button type="button" class="ghost" id="back">Back</button>
    <button type="button" id="pay">Pay ${money(total)} and book</button></div>`;
  document.getElementById("back").addEventListener("click", () => history.back());
  document.getElementById("pay").addEventListener("click", () => {
    const reference = `SKY-${Math.floor(seeded(JSON.stringify([p, who]))() * 1e6).toString().padStart(6, "0")}`;
    const trips = JSON.parse(localStorage.getItem("trips") || "[]");
    trips.push({ reference, flight: trip.flight.id, from: trip.from[0], to: trip.to[0], date: p.date, name: `${who.first} ${who.last}`, total });
    localStorage.setItem("trips", JSON.stringify(trips));
    go("#done", { reference });
  });
}

function donePage() {
  const reference = params().reference || "";
  const trip = JSON.parse(localStorage.getItem("trips") || "[]").find((t) => t.reference === reference);
  if (!trip) return go("#search");
  document.title = `Booked: ${reference}`;
  app.innerHTML = `<h1>You're booked</h1><div class="card">
    <p>Booking reference <strong id="reference">${escapeHtml(reference)}</strong></p>
    <p>${escapeHtml(trip.name)}, ${trip.from} → ${trip.to} on ${escapeHtml(trip.date)}, flight ${trip.flight}. Paid ${money(trip.total)}.</p></div>`;
}

function tripsPage() {
  document.title = "My trips";
  const trips = JSON.parse(localStorage.getItem("trips") || "[]");
  app.innerHTML = `<h1>My trips</h1>` + (trips.length ? trips.map((t) => `<div class="card">
    <strong>${escapeHtml(t.reference)}</strong>: ${t.from} → ${t.to}, ${escapeHtml(t.date)}, ${escapeHtml(t.name)}</div>`).join("")
    : `<div class="card">No trips yet. <a href="#search">Book a flight</a></div>`);
}

function helpPage() {
  document.title = "Help";
  app.innerHTML = `<h1>Help</h1><div class="card"><p>Pick where you fly from and to, a date, and search.
    Choose a flight, say who is flying, and pay. This demo takes no payment.</p></div>`;
}

const PAGES = { "#search": searchPage, "#results": resultsPage, "#passengers": passengersPage, "#review": reviewPage,
  "#done": donePage, "#trips": tripsPage, "#help": helpPage };
function route() {
  (PAGES[location.hash.split("?")[0]] || searchPage)();
  window.scrollTo(0, 0);
}
window.addEventListener("hashchange", route);
route();

const cookies = document.getElementById("cookies");
if (!localStorage.getItem("cookies")) cookies.hidden = false;
cookies.addEventListener("click", (e) => {
  const choice = e.target.closest("[data-cookies]");
  if (choice) { localStorage.setItem("cookies", choice.dataset.cookies); cookies.hidden = true; }
});
