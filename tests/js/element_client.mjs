// Element's own SDK (matrix-js-sdk, Rust crypto) talks to an Affinity bot in an encrypted room.
//
// Why: a suite where nio only talks to nio cannot catch what Element's crypto rejects. This is a
// second, independent client that follows MSC4153: it cross-signs itself, shares room keys only
// with devices their owners cross-signed and decrypts only from such devices
// (OnlySignedDevicesIsolationMode). If the bot's identity were malformed, the bot would get no
// room keys and its replies would not decrypt here.
//
// Usage (driven by tests/e2e/test_element.py):
//   ELEMENT_PASSWORD=... node element_client.mjs --homeserver URL --user @me:hs --bot @bot:hs
//       [--bot-device DEVICEID] [--timeout SECONDS]
// Output: one JSON object per line on stdout ({"step": ...}); the SDK's own logging goes to
// stderr. Exit 0 when both replies arrived and decrypted; 1 on a failed check, 2 on timeout.

import { parseArgs } from "node:util";

const started = Date.now();

// The SDK logs through console.log/info/debug; keep stdout for our JSON lines only.
for (const name of ["log", "info", "debug", "trace"]) console[name] = console.error;

const sdk = await import("matrix-js-sdk");
const { EventShieldColour, EventShieldReason, OnlySignedDevicesIsolationMode } = await import(
    "matrix-js-sdk/lib/crypto-api/index.js"
);
const { logger } = await import("matrix-js-sdk/lib/logger.js");
logger.setLevel(process.env.ELEMENT_LOG_LEVEL ?? "warn");

const { values: args } = parseArgs({
    options: {
        homeserver: { type: "string" },
        user: { type: "string" },
        bot: { type: "string" },
        "bot-device": { type: "string" },
        timeout: { type: "string", default: "60" },
    },
});
const password = process.env.ELEMENT_PASSWORD;
const required = { "--homeserver": args.homeserver, "--user": args.user, "--bot": args.bot,
                   ELEMENT_PASSWORD: password };
for (const [name, value] of Object.entries(required)) {
    if (!value) fail(1, `missing ${name}`);
}
const botId = args.bot;

function emit(step, data = {}) {
    process.stdout.write(JSON.stringify({ step, ms: Date.now() - started, ...data }) + "\n");
}

function fail(code, message) {
    emit("error", { message });
    process.exit(code);
}

// Bot events we could not decrypt (event id -> reason); an entry goes when a later retry succeeds.
const undecryptable = new Map();
// One deadline for the whole run: whatever we are waiting for when it passes is the message.
let waitingFor = "start";
const deadline = setTimeout(() => {
    const why = [...undecryptable].map(([id, reason]) => `${id}: ${reason}`).join("; ");
    const extra = why ? ` (undecryptable from the bot: ${why})` : "";
    fail(2, `timed out after ${args.timeout} s waiting for ${waitingFor}${extra}`);
}, Number(args.timeout) * 1000);

/** Poll `check` (sync or async) until it returns a truthy value. */
async function until(what, check, everyMs = 100) {
    waitingFor = what;
    for (;;) {
        const value = await check();
        if (value) return value;
        await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
}

const passwordAuth = (session) => ({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: args.user },
    password,
    ...(session ? { session } : {}),
});

main().catch((err) => fail(1, `failed while ${waitingFor}: ${err?.stack ?? err}`));

async function main() {
    // Log in on a throwaway client, then make the real one with the new device's credentials.
    waitingFor = "login";
    const login = await sdk.createClient({ baseUrl: args.homeserver }).loginRequest({
        ...passwordAuth(),
        initial_device_display_name: "Element SDK (affinity e2e)",
    });
    const client = sdk.createClient({
        baseUrl: args.homeserver,
        userId: login.user_id,
        deviceId: login.device_id,
        accessToken: login.access_token,
    });
    emit("logged_in", { user_id: login.user_id, device_id: login.device_id });

    waitingFor = "Rust crypto";
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    // MSC4153: share keys with, and decrypt from, only devices their owners cross-signed.
    crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());

    await client.startClient({ initialSyncLimit: 10 });
    await until("first sync", () => ["PREPARED", "SYNCING"].includes(client.getSyncState()));

    // Our own identity, as Element makes it on first login; its upload needs the password (UIA).
    waitingFor = "cross-signing bootstrap";
    await crypto.bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
            try {
                await makeRequest(passwordAuth());
            } catch (err) {
                // A homeserver that wants a session first answers 401 with one; prove the
                // password in that session.
                const session = err?.data?.session;
                if (err?.httpStatus !== 401 || !session) throw err;
                await makeRequest(passwordAuth(session));
            }
        },
    });
    // Our own device's signature reaches the local view of it a moment after the upload.
    await until("our own device to show as cross-signed", async () =>
        (await crypto.getDeviceVerificationStatus(login.user_id, login.device_id))?.signedByOwner);
    emit("cross_signed_self", { ready: await crypto.isCrossSigningReady(), signed_by_owner: true });

    waitingFor = "room creation";
    const { room_id: roomId } = await client.createRoom({
        name: "element e2e",
        preset: "private_chat",
        invite: [botId],
        initial_state: [{
            type: "m.room.encryption",
            state_key: "",
            content: { algorithm: "m.megolm.v1.aes-sha2" },
        }],
    });
    emit("room_created", { room_id: roomId });
    const botMembership = () => client.getRoom(roomId)?.getMember(botId)?.membership;
    await until("the bot to join", () => botMembership() === "join");
    emit("bot_joined");

    // The bot's identity as Rust crypto sees it (a fresh /keys/query, not a cached guess).
    waitingFor = "the bot's devices";
    const botDevices = await until("the bot's devices", async () => {
        const devices = (await crypto.getUserDeviceInfo([botId], true)).get(botId);
        return devices && devices.size > 0 ? devices : null;
    });
    const botDevice = args["bot-device"] ?? [...botDevices.keys()][0];
    if (!botDevices.has(botDevice)) {
        fail(1, `bot device ${botDevice} unknown; seen: ${[...botDevices.keys()].join(", ")}`);
    }
    const hasIdentity = await crypto.userHasCrossSigningKeys(botId, true);
    const device = await crypto.getDeviceVerificationStatus(botId, botDevice);
    const user = await crypto.getUserVerificationStatus(botId);
    const identity = {
        device_id: botDevice,
        devices: [...botDevices.keys()],
        has_cross_signing_identity: hasIdentity,
        signed_by_owner: device?.signedByOwner ?? false,
        cross_signing_verified: device?.crossSigningVerified ?? false,
        user_verified: user.isVerified(),
        user_needs_approval: user.needsUserApproval,
    };
    emit("bot_identity", identity);
    if (!identity.has_cross_signing_identity) {
        fail(1, "Rust crypto sees no cross-signing identity for the bot");
    }
    if (!identity.signed_by_owner) {
        fail(1, "Rust crypto does not see the bot's device signed by its self-signing key");
    }

    // Replies, keyed by the event they answer. Decryption may finish after the event arrives.
    const replies = new Map();
    async function consider(event) {
        if (event.getRoomId() !== roomId || event.getSender() !== botId) return;
        await client.decryptEventIfNeeded(event);
        if (event.isDecryptionFailure()) {
            const reason = event.decryptionFailureReason ?? event.getContent().body;
            undecryptable.set(event.getId(), String(reason));
            return;
        }
        undecryptable.delete(event.getId());
        const content = event.getContent();
        const to = content["m.relates_to"]?.["m.in_reply_to"]?.event_id;
        if (event.getType() === "m.room.message" && content.msgtype === "m.notice" && to) {
            // The shield Element would draw beside the message: none for a cross-signed device.
            const info = await crypto.getEncryptionInfoForEvent(event);
            const reason = info?.shieldReason;
            replies.set(to, {
                event_id: event.getId(),
                encrypted: event.isEncrypted(),
                shield: info ? EventShieldColour[info.shieldColour] : null,
                shield_reason: reason == null ? null : EventShieldReason[reason],
                body: content.body,
                formatted_body: content.formatted_body ?? null,
            });
        }
    }
    client.on(sdk.RoomEvent.Timeline, (event) => void consider(event));
    // An event that failed to decrypt at first (key not yet here) is retried when the key arrives.
    client.on(sdk.MatrixEventEvent.Decrypted, (event) => void consider(event));

    for (const command of ["!ping", "!help"]) {
        waitingFor = `sending ${command}`;
        const content = { msgtype: "m.text", body: command };
        const { event_id: eventId } = await client.sendMessage(roomId, content);
        emit("sent", { command, event_id: eventId });
        const reply = await until(`the bot's reply to ${command}`, () => replies.get(eventId));
        emit("reply", { command, in_reply_to: eventId, ...reply });
    }

    clearTimeout(deadline);
    emit("done", { undecryptable: Object.fromEntries(undecryptable) });
    client.stopClient();
    process.exit(0);
}
