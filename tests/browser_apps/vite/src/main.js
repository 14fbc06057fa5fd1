import './style.css'

document.querySelector('#app').innerHTML = `
  <h1>Hello from Vite</h1>
  <p class="count">0 clicks</p>
`
