const names = ["Ada", "Grace", "Linus", "Margaret"];
let count = 0;

document.getElementById("again").addEventListener("click", () => {
  count += 1;
  const name = names[count % names.length];
  document.getElementById("greeting").textContent = "Hello, " + name + "!";
});
