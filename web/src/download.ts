// Downloads that need the owner's token as well as the signed link (--download-auth owner): the
// file is fetched with the Authorization header and handed to the browser as a blob.
import { session } from "./api";

export async function download(url: string): Promise<void> {
    const r = await fetch(url, { headers: { Authorization: `Bearer ${session()?.token ?? ""}` } });
    if (!r.ok) {
        let msg = `Herald answered ${r.status}.`;
        try {
            msg = (await r.json()).error.message ?? msg;
        } catch {
            /* not JSON */
        }
        throw new Error(msg);
    }
    const name = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(r.headers.get("Content-Disposition") ?? "")?.[1] ?? url.split("/").pop()!.split("?")[0];
    saveBlob(await r.blob(), decodeURIComponent(name));
}

/** Hands blob to the browser as a download named name. */
export function saveBlob(blob: Blob, name: string): void {
    const href = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = href;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60000);
}
