// Search-as-you-type on /recommend: fills the same list of "Add" buttons that the
// form's Search button would, from GET /api/v1/movies. The page works without it.
// Its words come translated from the search box's data-add, data-no-match and data-genres.
(function () {
  const box = document.getElementById("q");
  const list = document.getElementById("matches");
  if (!box || !list) return;
  const said = JSON.parse(box.dataset.genres || "{}");
  let timer = null;
  let latest = 0;

  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });

  async function search() {
    const query = box.value.trim();
    const ticket = ++latest;
    if (query.length < 2) { list.replaceChildren(); return; }
    const url = box.dataset.searchUrl + "?limit=10&q=" + encodeURIComponent(query);
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok || ticket !== latest) return;
    const { movies } = await response.json();
    list.replaceChildren(...(movies.length ? movies.map(row) : [note(box.dataset.noMatch.replace("{query}", () => query))]));
  }

  function row(movie) {
    const item = document.createElement("li");
    const add = document.createElement("button");
    add.type = "submit"; add.name = "add"; add.value = movie.movie_id; add.className = "small"; add.textContent = box.dataset.add;
    const genres = document.createElement("span");
    genres.className = "genres"; genres.textContent = movie.genres.map((genre) => said[genre] || genre).join(", ");
    const portuguese = document.documentElement.lang === "pt-BR" && movie.title_pt_BR ? " — " + movie.title_pt_BR : "";
    item.append(add, " " + movie.title + portuguese + " ", genres);
    return item;
  }

  function note(text) {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }
})();
