// Like without a page reload: POST the like form with fetch and show the new count.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.like");
  if (!form) return;
  event.preventDefault();
  const response = await fetch(form.action, {
    method: "POST",
    body: new FormData(form),
    headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
    credentials: "same-origin",
  });
  if (!response.ok) { form.submit(); return; }
  const data = await response.json();
  document.querySelectorAll("[data-like-count]").forEach((el) => { el.textContent = data.likes; });
  const done = form.querySelector(".like-done");
  if (done) {  // the reader include's form: both buttons, the state in CSS
    form.querySelectorAll(".like-add").forEach((b) => { b.style.display = "none"; });
    done.style.display = "inline-block";
    return;
  }
  const button = form.querySelector("button");
  button.textContent = "Liked";
  button.disabled = true;
});
