// The dashboard script is written in app.js.
