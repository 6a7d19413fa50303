// Builds the web app into dist/: hashed, minified bundles in dist/assets and the two pages that
// name them. The output depends only on the sources and the locked packages, so CI rebuilds it and
// fails if the committed dist/ differs (scripts/web-check.sh).
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import * as esbuild from "esbuild";

const out = "dist";
await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, "assets"), { recursive: true });

const result = await esbuild.build({
    entryPoints: { app: "src/app.ts", admin: "src/admin.ts" },
    outdir: path.join(out, "assets"),
    bundle: true,
    splitting: true,
    format: "esm",
    target: ["es2022"],
    platform: "browser",
    minify: true,
    legalComments: "eof",
    entryNames: "[name]-[hash]",
    chunkNames: "shared-[hash]",
    assetNames: "[name]-[hash]",
    metafile: true,
    logLevel: "warning",
});

// The icon, named by its content as the bundles are.
const icon = await readFile("src/icon.svg");
const iconName = `icon-${createHash("sha256").update(icon).digest("hex").slice(0, 10)}.svg`;
await writeFile(path.join(out, "assets", iconName), icon);

const entries = {};
for (const [file, o] of Object.entries(result.metafile.outputs)) {
    if (!o.entryPoint) continue;
    const name = path.basename(o.entryPoint, ".ts");
    entries[name] = { js: "/" + path.relative(out, file), css: o.cssBundle ? "/" + path.relative(out, o.cssBundle) : null };
}

const page = (title, entry) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<link rel="icon" href="/assets/${iconName}" type="image/svg+xml">
${entry.css ? `<link rel="stylesheet" href="${entry.css}">\n` : ""}<script type="module" src="${entry.js}"></script>
</head>
<body>
<div id="root"></div>
<noscript>Herald's page needs JavaScript.</noscript>
</body>
</html>
`;
await writeFile(path.join(out, "index.html"), page("Herald", entries.app));
await writeFile(path.join(out, "admin.html"), page("Herald · Operators", entries.admin));
console.log(`web: built ${Object.keys(result.metafile.outputs).length + 3} files in ${out}/`);
