// The web app end to end, as people use it: two pages of alice (desktop and phone width) and one
// of bob, against a real `herald serve` on its embedded default, in Debian's Chromium.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { DESKTOP, PHONE, Server, artifactsOf, axeProblems, csvRecords, devSignIn, launch, missing, openPage, screenshot, sleep } from "./harness.mjs";

const ROWS = 100000;

const skip = missing();

describe("web app", { skip: skip || false }, () => {
    let server, browser, alice1, alice2, bob, admin;
    const pages = () => [alice1, alice2, bob].filter(Boolean);

    before(async () => {
        // Links last the shortest time allowed, a minute, and the sweep looks every 5 s: the first
        // export's file is gone before the suite ends, while its pages are open.
        const datasets = fileURLToPath(new URL("datasets.yaml", import.meta.url));
        server = new Server({ rows: ROWS, args: ["--datasets", datasets, "--link-ttl", "1m", "--retention-every", "5s"] });
        await server.start();
        browser = await launch();
        process.stdout.write(`screenshots go to ${artifactsOf("users")}\n`);
    });

    after(async () => {
        const problems = [...pages(), admin].filter(Boolean).flatMap((p) => p.problems);
        await browser?.close();
        await server?.close();
        assert.deepEqual(problems, [], "the pages reported errors");
    });

    /** The task rows of a page, by id: {state, text}. */
    const taskRow = (page, id) => page.locator(`[data-testid=task][data-task-id="${id}"]`);
    const toastsWith = (page, text) => page.locator("[data-testid=toast]", { hasText: text });

    test("sign in: the dev login on every page, each live", async () => {
        alice1 = await openPage(browser, "alice-desktop", DESKTOP);
        alice2 = await openPage(browser, "alice-phone", PHONE);
        // Bob's browser prefers the dark scheme.
        bob = await openPage(browser, "bob-desktop-dark", { ...DESKTOP, colorScheme: "dark" });
        await alice1.goto(server.url);
        assert.deepEqual(await axeProblems(alice1), [], "the sign-in page");
        await screenshot("sign-in", [alice1]);
        await devSignIn(alice1, server.url, "alice");
        await devSignIn(alice2, server.url, "alice");
        await devSignIn(bob, server.url, "bob");
        for (const p of pages()) {
            await p.locator("[data-testid=conn-status][data-status=connected]").waitFor({ timeout: 15000 });
            await p.locator("[data-testid=export-form]").waitFor();
        }
        assert.equal(await alice2.getByTestId("user").textContent(), "alice");
        await screenshot("signed-in", pages());
    });

    let exportId;
    test("an export started from the form shows its progress and one toast on both of alice's pages, and nothing on bob's", async () => {
        const started = alice1.waitForResponse((r) => r.url().endsWith("/api/exports") && r.request().method() === "POST");
        await alice1.getByRole("button", { name: "Start export" }).click();
        const resp = await started;
        assert.equal(resp.status(), 202);
        exportId = (await resp.json()).id;
        // Alice's other page hears of it with no refresh: queued or running, then done.
        await taskRow(alice2, exportId).waitFor({ timeout: 10000 });
        const seen = new Set();
        const deadline = Date.now() + 120000;
        for (;;) {
            const s1 = await taskRow(alice1, exportId).getAttribute("data-state");
            const s2 = await taskRow(alice2, exportId).getAttribute("data-state");
            seen.add(s1).add(s2);
            if (s1 === "succeeded" && s2 === "succeeded") break;
            assert.ok(Date.now() < deadline, `the export did not finish: ${s1}, ${s2}`);
            if (s2 === "running" && !seen.has("shot")) {
                seen.add("shot");
                const text = await taskRow(alice2, exportId).getByTestId("progress").textContent();
                assert.match(text, /rows|Starting|Waiting/, "the progress line");
                await screenshot("export-running", [alice1, alice2]);
            }
            await sleep(100);
        }
        assert.ok(seen.has("running") || seen.has("queued"), `the pages saw the export before it finished: ${[...seen]}`);
        for (const p of [alice1, alice2]) {
            await toastsWith(p, "Export of Orders").first().waitFor({ timeout: 10000 });
            assert.equal(await toastsWith(p, "Export of Orders").count(), 1, `${p.personName}: exactly one toast`);
            assert.match(await taskRow(p, exportId).getByTestId("result").textContent(), /100,000 rows/);
            assert.equal(await p.getByTestId("unread").textContent(), "1");
        }
        await screenshot("export-done", pages());
        assert.equal(await bob.locator("[data-testid=task]").count(), 0, "bob sees no task of alice");
        assert.equal(await bob.locator("[data-testid=toast]").count(), 0, "bob gets no toast");
        assert.equal(await bob.getByTestId("unread").count(), 0, "bob's bell has no unread count");
    });

    test("the download link gives a file with every row", async () => {
        const dl = alice2.waitForEvent("download");
        await taskRow(alice2, exportId).getByTestId("download").click();
        const file = await (await dl).path();
        assert.equal(csvRecords(readFileSync(file, "utf8")), ROWS + 1, "a header and one record per row");
    });

    test("the inbox: marking all read on one page clears the bell on the other", async () => {
        await alice1.getByTestId("bell").click();
        await alice1.getByTestId("inbox").waitFor();
        assert.deepEqual(await axeProblems(alice1), [], "the page with the inbox open");
        await screenshot("inbox", [alice1]);
        // On the phone the inbox spans the screen instead of hanging off the bell.
        await alice2.getByTestId("bell").click();
        const box = await alice2.getByTestId("inbox").boundingBox();
        assert.ok(box.x >= 0 && box.x + box.width <= 360, `the phone's inbox is on the screen: ${JSON.stringify(box)}`);
        await screenshot("inbox", [alice2]);
        await alice2.keyboard.press("Escape");
        await alice1.getByRole("button", { name: "Mark all read" }).click();
        await alice2.getByTestId("unread").waitFor({ state: "detached", timeout: 10000 });
        await alice1.getByTestId("unread").waitFor({ state: "detached", timeout: 10000 });
        await alice1.keyboard.press("Escape");
    });

    test("a long export cancelled from the second page shows as cancelled on both", async () => {
        // Fifty million generated readings (datasets.yaml): minutes of XLSX, where the suite's 100,000
        // orders take a second or two, too short to be sure to catch the export running.
        await alice1.getByLabel("Dataset").selectOption("readings");
        await alice1.getByLabel("Format").selectOption("xlsx");
        const started = alice1.waitForResponse((r) => r.url().endsWith("/api/exports") && r.request().method() === "POST");
        await alice1.getByRole("button", { name: "Start export" }).click();
        const resp = await started;
        assert.equal(resp.status(), 202);
        const { id, title } = await resp.json();
        assert.equal(title, "Export of Sensor readings (XLSX)");
        for (const p of [alice1, alice2]) {
            await p.locator(`[data-testid=task][data-task-id="${id}"][data-state=running]`).waitFor({ timeout: 15000 });
        }
        const row2 = taskRow(alice2, id);
        await row2.locator("[data-testid=progress]", { hasText: /rows/ }).waitFor({ timeout: 10000 });
        await row2.getByTestId("cancel").click();
        // It asks first; "Keep it" changes nothing, "Yes, cancel" cancels.
        await row2.getByTestId("cancel-keep").click();
        assert.notEqual(await row2.getAttribute("data-state"), "cancelled", "Keep it leaves the task as it was");
        await row2.getByTestId("cancel").click();
        await screenshot("cancel-confirm", [alice2]);
        await row2.getByTestId("cancel-confirm").click();
        for (const p of [alice1, alice2]) {
            const row = p.locator(`[data-testid=task][data-task-id="${id}"][data-state=cancelled]`);
            await row.waitFor({ timeout: 30000 });
            await row.getByText(/^Cancelled after [\d,]+ rows; the partial file was deleted\.$/).waitFor({ timeout: 30000 });
        }
        assert.equal(await toastsWith(alice1, title).count(), 0, "a cancelled export is no completion");
        await screenshot("cancelled", [alice1, alice2]);
        await alice1.getByLabel("Dataset").selectOption("orders");
    });

    test("a bad parameter shows the server's message beside its field", async () => {
        await alice1.getByLabel("Format").selectOption("csv");
        await alice1.getByLabel("Minimum amount").fill("-5");
        // A reversed date range is refused too, beside the end date.
        await alice1.getByLabel("Created on or after").fill("2026-03-01");
        await alice1.getByLabel("Created before").fill("2026-02-01");
        const answered = alice1.waitForResponse((r) => r.url().endsWith("/api/exports"));
        await alice1.getByRole("button", { name: "Start export" }).click();
        const resp = await answered;
        assert.equal(resp.status(), 422);
        const serverMessage = (await resp.json()).error.details.find((d) => d.param === "minAmount").message;
        const field = alice1.locator('[data-field="p-minAmount"]');
        const shown = await field.getByTestId("field-error").textContent();
        assert.equal(shown.toLowerCase().replace(/\.$/, ""), serverMessage.toLowerCase().replace(/\.$/, ""));
        assert.equal(await alice1.getByLabel("Minimum amount").getAttribute("aria-invalid"), "true");
        const rangeMessage = (await resp.json()).error.details.find((d) => d.param === "to")?.message;
        assert.match(rangeMessage ?? "", /must be after "from"/);
        assert.equal(await alice1.locator('[data-field="p-to"]').getByTestId("field-error").count(), 1, "the range's refusal shows beside the end date");
        await screenshot("bad-parameter", [alice1]);
        await alice1.getByLabel("Minimum amount").fill("");
        await alice1.getByLabel("Created on or after").fill("");
        await alice1.getByLabel("Created before").fill("");
    });

    test("an announcement from herald send reaches all three pages", async () => {
        server.send("--all", "--target", "announcement", "--args", '["Maintenance at 18:00 UTC"]');
        for (const p of pages()) await toastsWith(p, "Maintenance at 18:00 UTC").waitFor({ timeout: 10000 });
        await screenshot("announcement", pages());
        // A burst: the desktop shows them all, the phone only the newest two (more would cover its list).
        for (const n of [1, 2, 3]) server.send("--all", "--target", "announcement", "--args", JSON.stringify([`Burst ${n}`]));
        for (const p of [alice1, alice2]) await toastsWith(p, "Burst 3").waitFor({ timeout: 10000 });
        const visible = async (p) => (await p.locator("[data-testid=toast]").evaluateAll((ts) => ts.filter((t) => t.checkVisibility()).map((t) => t.textContent)));
        assert.ok((await visible(alice1)).length >= 4, `the desktop shows every toast: ${await visible(alice1)}`);
        const phone = await visible(alice2);
        assert.equal(phone.length, 2, `the phone shows two: ${phone}`);
        assert.match(phone.join(" | "), /Burst 2.*Burst 3/);
    });

    test("a task that fails shows its reason and one error toast on each of alice's pages, none on bob's", async () => {
        const id = await alice1.evaluate(async () => {
            const r = await fetch("/api/demo/tasks", {
                method: "POST",
                headers: { Authorization: `Bearer ${sessionStorage.getItem("herald.token")}`, "Content-Type": "application/json" },
                body: JSON.stringify({ steps: 3, stepMs: 100, failAtStep: 2 }),
            });
            return (await r.json()).id;
        });
        for (const p of [alice1, alice2]) {
            await p.locator(`[data-testid=task][data-task-id="${id}"][data-state=failed]`).waitFor({ timeout: 15000 });
            assert.match(await taskRow(p, id).textContent(), /Failed at step 2 of 3\./, `${p.personName}: the task says why`);
            const toast = p.locator("[data-testid=toast].toast-error", { hasText: "Failed at step 2 of 3." });
            await toast.waitFor({ timeout: 10000 });
            assert.equal(await toast.count(), 1, `${p.personName}: exactly one error toast`);
        }
        await screenshot("failed", [alice1, alice2]);
        assert.equal(await taskRow(bob, id).count(), 0, "bob sees no task of alice's");
        assert.equal(await bob.locator("[data-testid=toast].toast-error").count(), 0, "nor her failure's toast");
    });

    test("a page that was away catches up from the feed (Missed), with no list to read again", async () => {
        // The server ends alice's connections (no stateful resume: the official client stays closed,
        // and the page connects anew), and the phone's new connection is held 3 s while a task runs
        // and finishes: the phone learns of it only through the hub method Missed.
        const tasksRead = [];
        const onRequest = (r) => r.url().includes("/api/tasks?") && tasksRead.push(r.url());
        alice2.on("request", onRequest);
        const asked = [];
        const onSocket = (ws) => ws.on("framesent", (f) => typeof f.payload === "string" && f.payload.includes('"target":"Missed"') && asked.push(f.payload));
        alice2.on("websocket", onSocket);
        const held = "**/hubs/notifications/negotiate*";
        await alice2.route(held, async (route) => {
            await sleep(3000);
            await route.continue();
        });
        try {
            await server.manage("/api/hubs/notifications/users/alice/:closeConnections");
            await alice2.locator("[data-testid=conn-status]:not([data-status=connected])").waitFor({ timeout: 10000 });
            const resp = await fetch(`${server.url}/api/demo/tasks`, {
                method: "POST",
                headers: { Authorization: `Bearer ${server.token("alice")}`, "Content-Type": "application/json" },
                body: JSON.stringify({ steps: 4, stepMs: 100 }),
            });
            assert.equal(resp.status, 202);
            const { id } = await resp.json();
            await alice1.locator(`[data-testid=task][data-task-id="${id}"][data-state=succeeded]`).waitFor({ timeout: 15000 });
            assert.equal(await taskRow(alice2, id).count(), 0, "the phone was away while it ran");
            await alice2.locator(`[data-testid=task][data-task-id="${id}"][data-state=succeeded]`).waitFor({ timeout: 20000 });
            await toastsWith(alice2, "Demo task (4 steps)").first().waitFor({ timeout: 5000 });
            for (const p of [alice1, alice2]) {
                assert.equal(await toastsWith(p, "Demo task (4 steps)").count(), 1, `${p.personName}: one toast for it`);
            }
            assert.ok(asked.length >= 1, "the phone asked for what it missed");
            assert.deepEqual(tasksRead, [], "and read no task list: the feed reached back");
            await screenshot("caught-up", [alice2]);
        } finally {
            await alice2.unroute(held);
            alice2.off("request", onRequest);
            alice2.off("websocket", onSocket);
        }
    });

    test("the server restarts: the pages say so, reconnect, and show the truth", async () => {
        // A task that the restart interrupts (a demo task of 30 steps of 300 ms): it goes back to
        // the queue, runs again after the restart, and finishes while the pages are back.
        const id = await alice1.evaluate(async () => {
            const r = await fetch("/api/demo/tasks", {
                method: "POST",
                headers: { Authorization: `Bearer ${sessionStorage.getItem("herald.token")}`, "Content-Type": "application/json" },
                body: JSON.stringify({ steps: 30, stepMs: 300 }),
            });
            return (await r.json()).id;
        });
        await alice2.locator(`[data-testid=task][data-task-id="${id}"][data-state=running]`).waitFor({ timeout: 15000 });
        await server.stop();
        // The drain stops the tasks before the hubs: the pages heard the task go back to the queue.
        await alice2.locator(`[data-testid=task][data-task-id="${id}"][data-state=queued]`).waitFor({ timeout: 5000 });
        for (const p of pages()) await p.locator("[data-testid=conn-status]:not([data-status=connected])").waitFor({ timeout: 20000 });
        await screenshot("server-down", pages());
        await server.start();
        for (const p of pages()) await p.locator("[data-testid=conn-status][data-status=connected]").waitFor({ timeout: 45000 });
        for (const p of [alice1, alice2]) {
            await p.locator(`[data-testid=task][data-task-id="${id}"][data-state=succeeded]`).waitFor({ timeout: 120000 });
            await toastsWith(p, "Demo task (30 steps)").first().waitFor({ timeout: 5000 });
            assert.equal(await toastsWith(p, "Demo task (30 steps)").count(), 1, `${p.personName}: one toast for it`);
        }
        assert.equal(await bob.locator("[data-testid=task]").count(), 0);
        await screenshot("after-restart", pages());
    });

    test("the operators' page shows live counts and the live trace of alice's connection and messages", async () => {
        admin = await openPage(browser, "admin-desktop", DESKTOP);
        await devSignIn(admin, server.url, "olga", "/admin");
        await admin.getByTestId("connections").waitFor();
        await admin.getByLabel("User").fill("alice");
        await admin.getByTestId("trace-start").click();
        await admin.getByText("Tracing…").waitFor();
        await sleep(500);
        // A new page of alice connects, and her export sends her messages.
        await alice1.reload();
        await alice1.locator("[data-testid=conn-status][data-status=connected]").waitFor({ timeout: 15000 });
        await alice1.getByLabel("Format").selectOption("csv");
        await alice1.getByRole("button", { name: "Start export" }).click();
        const events = admin.getByTestId("trace-event");
        await admin.locator('[data-testid=trace-event][data-type=connected]', { hasText: "alice" }).first().waitFor({ timeout: 15000 });
        await admin.locator('[data-testid=trace-event][data-type=send]', { hasText: "taskUpdated" }).first().waitFor({ timeout: 30000 });
        const texts = await events.allTextContents();
        assert.ok(texts.every((t) => !/\bbob\b/.test(t)), "the trace filtered on alice shows nobody else");
        const conns = Number((await admin.getByTestId("connections").locator("strong").textContent()).replace(/\D/g, ""));
        assert.ok(conns >= 3, `connections counted: ${conns}`);
        // The broadcast goes through the same hub target as herald send --all.
        await admin.getByLabel("Message to every open page").fill("Deploy in 5 minutes");
        await admin.getByLabel("Level").selectOption("warning");
        const sent = admin.waitForResponse((r) => r.url().endsWith("/api/admin/announcements"), { timeout: 30000 });
        await admin.getByRole("button", { name: "Send", exact: true }).click();
        const resp = await sent;
        assert.equal(resp.status(), 202, `the announcement: ${resp.status()} ${await resp.text()}`);
        await admin.getByText("Sent to every open page.").waitFor({ timeout: 30000 });
        for (const p of pages()) await toastsWith(p, "Deploy in 5 minutes").waitFor({ timeout: 10000 });
        assert.match(await toastsWith(bob, "Deploy in 5 minutes").getAttribute("class"), /toast-warning/);
        await screenshot("admin-broadcast", pages());
        assert.deepEqual(await axeProblems(admin), [], "the operators' page");
        await screenshot("admin", [admin]);
        const adminPhone = await openPage(browser, "admin-phone", PHONE);
        await devSignIn(adminPhone, server.url, "olga", "/admin");
        await adminPhone.getByTestId("connections").waitFor();
        await screenshot("admin", [adminPhone]);
        assert.deepEqual(adminPhone.problems, [], "the operators' page at phone width");
        await adminPhone.context().close();
    });

    test("the first export's file expires: the sweep deletes it and both of alice's pages say Expired, with no link", async () => {
        const token = server.token("alice");
        const deadline = Date.now() + 120000;
        let task;
        for (;;) {
            task = await (await fetch(`${server.url}/api/tasks/${exportId}`, { headers: { Authorization: `Bearer ${token}` } })).json();
            if (task.result?.expired || Date.now() > deadline) break;
            await sleep(1000);
        }
        assert.equal(task.result?.expired, true, `the sweep marked the file expired: ${JSON.stringify(task.result)}`);
        assert.equal(task.result.downloadUrl, undefined, "and took its link away");
        for (const p of [alice1, alice2]) {
            const row = taskRow(p, exportId);
            await row.getByTestId("expired").waitFor({ timeout: 10000 });
            assert.equal(await row.getByTestId("download").count(), 0, `${p.personName}: no download link once expired`);
        }
        await screenshot("expired", [alice1, alice2]);
    });

    test("no serious or critical accessibility violation on the users' pages", async () => {
        for (const p of pages()) assert.deepEqual(await axeProblems(p), [], p.personName);
    });
});
