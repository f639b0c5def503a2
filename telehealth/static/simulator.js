// Refresh each simulated phone's thread every two seconds, so messages the dispatcher sends appear.
(function () {
  function render(list, messages) {
    list.textContent = "";
    messages.forEach(function (m) {
      var item = document.createElement("li");
      item.className = m.from_me ? "mine" : "theirs";
      var text = document.createElement("span");
      text.textContent = m.body;
      var meta = document.createElement("small");
      meta.textContent = " " + m.at + " · " + m.status;
      item.appendChild(text);
      item.appendChild(meta);
      list.appendChild(item);
    });
  }
  function refresh() {
    document.querySelectorAll(".phone").forEach(function (card) {
      fetch("thread?phone=" + encodeURIComponent(card.dataset.phone))
        .then(function (r) { return r.json(); })
        .then(function (messages) { render(card.querySelector(".thread"), messages); });
    });
  }
  setInterval(refresh, 2000);
})();
