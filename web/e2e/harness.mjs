// What the web app's end-to-end tests drive: a real `herald serve` on its embedded default (its
// own data dir, dev mode) and Debian's Chromium through playwright-core, with screenshots kept as
// artifacts and axe-core run in the pages.
import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../..");
export const herald = process.env.HERALD_BIN ?? path.join(repo, "bin/herald");
export const chromiumPath = process.env.HERALD_CHROMIUM ?? "/usr/bin/chromium";
export const artifacts = process.env.HERALD_WEB_ARTIFACTS ?? path.join(repo, "bin/web-e2e");

/** Skips loudly outside CI when Chromium or the binary is missing; fails in CI. */
export function missing() {
    const why = [];
    if (!existsSync(chromiumPath)) why.push(`Chromium at ${chromiumPath} (apt-get install chromium)`);
    if (!existsSync(herald)) why.push(`the herald binary at ${herald} (make build, or HERALD_BIN)`);
    if (!why.length) return "";
    const msg = `the web end-to-end tests need ${why.join(" and ")}`;
    if (process.env.CI === "true") throw new Error(msg);
    process.stderr.write(`\n!!!!! SKIPPING web e2e: ${msg} (under CI=true it fails instead) !!!!!\n\n`);
    return msg;
}

export async function freePort() {
    const s = net.createServer();
    s.listen(0, "127.0.0.1");
    await once(s, "listening");
    const { port } = s.address();
    s.close();
    await once(s, "close");
    return port;
}

/** The records of a CSV text: a line break inside quotes (a field with one) is no record's end. */
export function csvRecords(text) {
    let n = 0;
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 34) quoted = !quoted;
        else if (c === 10 && !quoted) n++;
    }
    return text.endsWith("\n") ? n : n + 1;
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A herald serve process on a data dir of its own, restartable on the same port. */
export class Server {
    constructor({ rows = 0, args = [] } = {}) {
        this.dir = mkdtempSync(path.join(os.tmpdir(), "herald-web-"));
        this.rows = rows;
        this.args = args;
        this.log = [];
    }

    get url() {
        return `http://127.0.0.1:${this.port}`;
    }

    async start() {
        if (!this.port) {
            this.port = await freePort();
            if (this.rows) {
                execFileSync(herald, ["demo-data", "--data-dir", this.dir, "--rows", String(this.rows)], { stdio: "pipe" });
            }
        }
        const p = spawn(herald, ["serve", "--addr", `127.0.0.1:${this.port}`, "--data-dir", this.dir, "--log-level", "warn", ...this.args], {
            stdio: ["ignore", "pipe", "pipe"],
            env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HERALD_") || k === "HERALD_BIN")),
        });
        this.proc = p;
        for (const s of [p.stdout, p.stderr]) s.on("data", (b) => this.log.push(...b.toString().split("\n").filter(Boolean)));
        const deadline = Date.now() + 30000;
        for (;;) {
            if (p.exitCode !== null) throw new Error(`herald exited (${p.exitCode}):\n${this.tail()}`);
            try {
                const r = await fetch(`${this.url}/readyz`);
                if (r.ok) return;
            } catch {
                /* not yet */
            }
            if (Date.now() > deadline) throw new Error(`herald not ready after 30 s:\n${this.tail()}`);
            await sleep(100);
        }
    }

    /** SIGTERM and wait for the exit (the drain). */
    async stop() {
        const p = this.proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        p.kill("SIGTERM");
        const t = setTimeout(() => p.kill("SIGKILL"), 20000);
        await once(p, "exit");
        clearTimeout(t);
    }

    async close() {
        await this.stop();
        rmSync(this.dir, { recursive: true, force: true });
    }

    tail(n = 40) {
        return this.log.slice(-n).join("\n");
    }

    /** `herald send` through the management API, with the key in the data dir. */
    send(...args) {
        return execFileSync(herald, ["send", "--endpoint", this.url, "--data-dir", this.dir, ...args], { stdio: "pipe" }).toString();
    }

    /** A call to the management API (POST path, e.g. /api/hubs/notifications/users/alice/:closeConnections), with a token for its URL. */
    async manage(path) {
        const url = `${this.url}${path}`;
        const token = execFileSync(herald, ["keys", "--data-dir", this.dir, "--token", url], { stdio: "pipe" }).toString().trim();
        const r = await fetch(`${url}?api-version=2022-06-01`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
        if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
    }

    /** `herald token`: a token this server accepts, given the same JWT flags. */
    token(user, ...args) {
        return execFileSync(herald, ["token", "--data-dir", this.dir, "--user", user, ...args], { stdio: "pipe" }).toString().trim();
    }
}

export async function launch() {
    return chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        // As root in a container Chromium needs --no-sandbox; the rest keeps it off the network.
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
}

export const DESKTOP = { viewport: { width: 1280, height: 860 } };
export const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

/**
 * A page of one person, with its problems collected: page errors, console errors and CSP
 * violations fail the test at the end.
 */
export async function openPage(browser, name, device) {
    const context = await browser.newContext({ ...device, acceptDownloads: true, reducedMotion: "reduce" });
    const page = await context.newPage();
    page.problems = [];
    page.on("pageerror", (e) => page.problems.push(`${name}: page error: ${e.message}`));
    page.on("console", (m) => {
        const t = m.text();
        // A failed reconnect while the server restarts is expected noise; a CSP refusal never is.
        if (/Content Security Policy|Refused to/.test(t)) page.problems.push(`${name}: ${t}`);
        else if (m.type() === "error" && !/Failed to (load resource|start the connection|complete negotiation)|WebSocket|Connection disconnected|net::ERR_/.test(t))
            page.problems.push(`${name}: console error: ${t}`);
    });
    page.personName = name;
    return page;
}

let shots = 0;
let shotDir = artifacts;
/** Starts a suite's screenshots in artifacts/suite, emptied first; returns the folder. */
export function artifactsOf(suite) {
    shotDir = path.join(artifacts, suite);
    rmSync(shotDir, { recursive: true, force: true });
    return shotDir;
}
/** Screenshots every page (full page) under artifacts/suite/NN-step-name.png and prints the paths. */
export async function screenshot(step, pages) {
    mkdirSync(shotDir, { recursive: true });
    const n = String(++shots).padStart(2, "0");
    for (const p of pages) {
        // Nothing may stick out sideways, at phone width least of all.
        // screen.width: a phone's layout viewport grows with content that is too wide.
        const wide = await p.evaluate(() => document.documentElement.scrollWidth - Math.min(window.innerWidth, screen.width));
        if (wide > 0) p.problems.push(`${p.personName}: at step ${step} the page is ${wide} px wider than the screen`);
        const file = path.join(shotDir, `${n}-${step}-${p.personName}.png`);
        // From the top: a full-page shot of a scrolled page draws the sticky header where the
        // viewport was, across the middle of the page. The scroll is put back afterwards.
        const y = await p.evaluate(() => {
            const y = window.scrollY;
            window.scrollTo(0, 0);
            return y;
        });
        await p.screenshot({ path: file, fullPage: true });
        await p.evaluate((y) => window.scrollTo(0, y), y);
        process.stdout.write(`screenshot: ${file}\n`);
    }
}

const axeSource = readFileSync(path.join(here, "../node_modules/axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core in the page (through the DevTools protocol, so the page's CSP does not stop it)
 * and returns the serious and critical violations, described.
 */
export async function axeProblems(page) {
    await page.evaluate(axeSource + "\n;0");
    const res = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { resultTypes: ["violations"] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
    });
    return res.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${page.personName}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.join(", ")})`);
}

export async function devSignIn(page, url, user, pathname = "/") {
    await page.goto(url + pathname);
    await page.getByLabel("User name").fill(user);
    await page.getByRole("button", { name: "Sign in" }).click();
}
