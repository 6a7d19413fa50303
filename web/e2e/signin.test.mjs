// The web app as a deployment with real tokens runs it (no dev login): a login page of its own
// (--login-url) that hands the token back in the URL's fragment, a pasted token, a forged one the
// server refuses, a token's end; and --download-auth owner, where the page downloads with its token.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { DESKTOP, Server, artifactsOf, axeProblems, csvRecords, freePort, launch, missing, openPage, screenshot } from "./harness.mjs";

const ROWS = 500;
const SECRET = "web-e2e-secret-0123456789abcdef0123456789";
const skip = missing();

describe("signing in with tokens, and owner-only downloads", { skip: skip || false }, () => {
    let server, browser, login, loginUrl, page;
    const jwtFlags = ["--jwt-secret", SECRET];

    before(async () => {
        // The login page: it signs carol in and sends her back with the token in the fragment.
        login = http.createServer((req, res) => {
            const back = new URL(req.url, "http://x").searchParams.get("return");
            if (!back) return res.writeHead(400).end("no return");
            const token = server.token("carol", ...jwtFlags);
            res.writeHead(302, { Location: `${back.split("#")[0]}#access_token=${encodeURIComponent(token)}` }).end();
        });
        const port = await freePort();
        login.listen(port, "127.0.0.1");
        await once(login, "listening");
        loginUrl = `http://127.0.0.1:${port}/login`;
        server = new Server({ rows: ROWS, args: [...jwtFlags, "--login-url", loginUrl, "--download-auth", "owner"] });
        await server.start();
        browser = await launch();
        process.stdout.write(`screenshots go to ${artifactsOf("sign-in")}\n`);
        page = await openPage(browser, "carol-desktop", DESKTOP);
    });

    after(async () => {
        const problems = page?.problems ?? [];
        await browser?.close();
        await server?.close();
        login?.close();
        assert.deepEqual(problems, [], "the page reported errors");
    });

    const live = () => page.locator("[data-testid=conn-status][data-status=connected]").waitFor({ timeout: 15000 });
    const signOut = async () => {
        await page.evaluate(() => sessionStorage.clear());
        await page.goto(server.url);
    };

    test("the sign-in page offers the login page and a token, and no dev login", async () => {
        await page.goto(server.url);
        await page.getByRole("link", { name: "Sign in with your account" }).waitFor();
        assert.equal(await page.getByLabel("User name").count(), 0, "no dev login outside dev mode");
        assert.deepEqual(await axeProblems(page), [], "the sign-in page");
        await screenshot("options", [page]);
    });

    test("a pasted text that is no token is refused on the spot", async () => {
        await page.getByText("Sign in with a token").click();
        await page.getByLabel("Access token (JWT)").fill("not-a-token");
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByRole("alert").filter({ hasText: "That is not a token" }).waitFor();
    });

    test("a forged token (another secret) is refused by the server, and the page says so", async () => {
        const forged = server.token("mallory", "--jwt-secret", "another-secret-0123456789abcdef0123456789");
        await page.getByLabel("Access token (JWT)").fill(forged);
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByText("You were signed out").waitFor({ timeout: 15000 });
        await screenshot("forged-token", [page]);
        assert.equal(await page.evaluate(() => sessionStorage.getItem("herald.token")), null, "the token is not kept");
    });

    test("a pasted token signs in, and the page signs out at the token's end", async () => {
        // 15 s: time for a loaded machine to sign in and connect before the token ends.
        const short = server.token("dave", ...jwtFlags, "--token-ttl", "15s");
        await signOut();
        await page.getByText("Sign in with a token").click();
        await page.getByLabel("Access token (JWT)").fill(short);
        await page.getByRole("button", { name: "Sign in" }).click();
        await live();
        assert.equal(await page.getByTestId("user").textContent(), "dave");
        await page.getByText("Your session ended. Sign in again.").waitFor({ timeout: 45000 });
        assert.equal(await page.evaluate(() => sessionStorage.getItem("herald.token")), null);
    });

    test("the login page signs carol in, and the token leaves the address bar", async () => {
        await signOut();
        await page.getByRole("link", { name: "Sign in with your account" }).click();
        await live();
        assert.equal(await page.getByTestId("user").textContent(), "carol");
        assert.ok(!page.url().includes("access_token"), `the token is not left in the URL: ${page.url()}`);
        await screenshot("signed-in", [page]);
    });

    test("with --download-auth owner the page downloads with its token, and the bare link is refused", async () => {
        const started = page.waitForResponse((r) => r.url().endsWith("/api/exports") && r.request().method() === "POST");
        await page.getByRole("button", { name: "Start export" }).click();
        const id = (await (await started).json()).id;
        const row = page.locator(`[data-testid=task][data-task-id="${id}"]`);
        await row.and(page.locator("[data-state=succeeded]")).waitFor({ timeout: 60000 });
        const href = await row.getByTestId("download").getAttribute("href");
        const bare = await page.evaluate(async (u) => (await fetch(u)).status, href);
        assert.equal(bare, 401, "the link alone does not download");
        const dl = page.waitForEvent("download");
        await row.getByTestId("download").click();
        const file = await (await dl).path();
        assert.equal(csvRecords(readFileSync(file, "utf8")), ROWS + 1, "a header and one record per row");
        await screenshot("owner-download", [page]);
    });
});
