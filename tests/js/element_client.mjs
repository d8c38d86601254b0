// Element's own SDK (matrix-js-sdk, Rust crypto) talks to an Affinity bot in a room it creates:
// an encrypted group room (the default), an unencrypted one, or an encrypted direct chat.
//
// Why: a suite where nio only talks to nio cannot catch what Element's crypto rejects. This is a
// second, independent client that follows MSC4153: it cross-signs itself, shares room keys only
// with devices their owners cross-signed and decrypts only from such devices
// (OnlySignedDevicesIsolationMode). If the bot's identity were malformed, the bot would get no
// room keys and its replies would not decrypt here.
//
// Usage (driven by tests/e2e/test_element.py):
//   ELEMENT_PASSWORD=... node element_client.mjs --homeserver URL --user @me:hs --bot @bot:hs
//       [--bot-device DEVICEID] [--room-kind encrypted|plain|dm] [--commands '!ping,!help']
//       [--await-notice TEXT]... [--invite @user:hs]... [--timeout SECONDS]
// --commands: sent in order (comma- or newline-separated); after each, the script waits for the
// bot's m.notice that replies to it (m.in_reply_to) and emits it as a "reply" step.
// --await-notice: after the commands, wait for a bot m.notice whose body contains TEXT and that
// replies to none of our commands (e.g. a lottery's reveal); emitted as a "notice" step.
// --invite: invite these users too (not to a dm), e.g. so that the bot counts the room as a
// group room (more than two members, joined or invited) while we are its only joined human.
// Output: one JSON object per line on stdout ({"step": ...}); the SDK's own logging goes to
// stderr. Exit 0 when every awaited notice arrived and decrypted; 1 on a failed check or bad
// arguments, 2 on timeout.

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
        "room-kind": { type: "string", default: "encrypted" },
        commands: { type: "string", default: "!ping,!help" },
        "await-notice": { type: "string", multiple: true, default: [] },
        invite: { type: "string", multiple: true, default: [] },
    },
});
const password = process.env.ELEMENT_PASSWORD;
const required = { "--homeserver": args.homeserver, "--user": args.user, "--bot": args.bot,
                   ELEMENT_PASSWORD: password };
for (const [name, value] of Object.entries(required)) {
    if (!value) fail(1, `missing ${name}`);
}
const botId = args.bot;
const roomKind = args["room-kind"];
if (!["encrypted", "plain", "dm"].includes(roomKind)) {
    fail(1, `--room-kind must be encrypted, plain or dm, not ${JSON.stringify(roomKind)}`);
}
if (roomKind === "dm" && args.invite.length) fail(1, "a dm invites only the bot");
const commands = args.commands.split(/[,\n]/).map((c) => c.trim()).filter(Boolean);
if (commands.length === 0) fail(1, "--commands names no command");

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
    const encryption = {
        type: "m.room.encryption",
        state_key: "",
        content: { algorithm: "m.megolm.v1.aes-sha2" },
    };
    // A direct chat as Element starts one: no name, both sides admins, marked is_direct.
    const { room_id: roomId } = await client.createRoom(roomKind === "dm"
        ? { preset: "trusted_private_chat", is_direct: true, invite: [botId],
            initial_state: [encryption] }
        : { name: `element e2e (${roomKind})`, preset: "private_chat",
            invite: [botId, ...args.invite],
            initial_state: roomKind === "plain" ? [] : [encryption] });
    emit("room_created", { room_id: roomId, kind: roomKind });
    const botMembership = () => client.getRoom(roomId)?.getMember(botId)?.membership;
    await until("the bot to join", () => botMembership() === "join");
    emit("bot_joined");

    // The bot's identity as Rust crypto sees it (a fresh /keys/query, not a cached guess).
    // Rust crypto keeps, and judges, the devices only of users it tracks: those who share an
    // encrypted room with us. In a plain room the bot's keys come over plain HTTP, so only
    // whether it has a cross-signing identity can be told, not whether its device is signed
    // (Element draws no shields there either); those fields are then null.
    const encryptedRoom = roomKind !== "plain";
    const tracked = async () => (await crypto.getUserDeviceInfo([botId])).has(botId);
    if (encryptedRoom) await until("Rust crypto to track the bot's devices", tracked);
    const botDevices = await until("the bot's devices", async () => {
        const devices = (await crypto.getUserDeviceInfo([botId], true)).get(botId);
        return devices && devices.size > 0 ? devices : null;
    });
    const botDevice = args["bot-device"] ?? [...botDevices.keys()][0];
    if (!botDevices.has(botDevice)) {
        fail(1, `bot device ${botDevice} unknown; seen: ${[...botDevices.keys()].join(", ")}`);
    }
    const hasIdentity = await crypto.userHasCrossSigningKeys(botId, true);
    const device = encryptedRoom ? await crypto.getDeviceVerificationStatus(botId, botDevice) : null;
    const user = await crypto.getUserVerificationStatus(botId);
    const identity = {
        device_id: botDevice,
        devices: [...botDevices.keys()],
        tracked: await tracked(),
        has_cross_signing_identity: hasIdentity,
        signed_by_owner: encryptedRoom ? device?.signedByOwner ?? false : null,
        cross_signing_verified: encryptedRoom ? device?.crossSigningVerified ?? false : null,
        user_verified: user.isVerified(),
        user_needs_approval: user.needsUserApproval,
    };
    emit("bot_identity", identity);
    if (!identity.has_cross_signing_identity) {
        fail(1, "Rust crypto sees no cross-signing identity for the bot");
    }
    if (encryptedRoom && !identity.signed_by_owner) {
        fail(1, "Rust crypto does not see the bot's device signed by its self-signing key");
    }

    // Replies, keyed by the event they answer, and every other notice from the bot, in order of
    // arrival. Decryption may finish after the event arrives.
    const replies = new Map();
    const others = new Map();
    // Our commands' event ids; a reply can arrive before sendMessage returns, so a notice that
    // replies to an id not (yet) here is kept among the others until replyTo moves it over.
    const sentIds = new Set();
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
        const to = content["m.relates_to"]?.["m.in_reply_to"]?.event_id ?? null;
        if (event.getType() !== "m.room.message" || content.msgtype !== "m.notice") return;
        // The shield Element would draw beside the message: none for a cross-signed device
        // (and no encryption info at all for an unencrypted event).
        const info = await crypto.getEncryptionInfoForEvent(event);
        const reason = info?.shieldReason;
        const notice = {
            event_id: event.getId(),
            encrypted: event.isEncrypted(),
            shield: info ? EventShieldColour[info.shieldColour] : null,
            shield_reason: reason == null ? null : EventShieldReason[reason],
            body: content.body,
            formatted_body: content.formatted_body ?? null,
        };
        if (to && sentIds.has(to)) replies.set(to, notice);
        else others.set(event.getId(), { ...notice, in_reply_to: to });
    }
    client.on(sdk.RoomEvent.Timeline, (event) => void consider(event));
    // An event that failed to decrypt at first (key not yet here) is retried when the key arrives.
    client.on(sdk.MatrixEventEvent.Decrypted, (event) => void consider(event));

    function replyTo(eventId) {
        if (!replies.has(eventId)) {
            for (const [id, notice] of others) {
                if (notice.in_reply_to !== eventId) continue;
                const { in_reply_to: _, ...rest } = notice;
                replies.set(eventId, rest);
                others.delete(id);
            }
        }
        return replies.get(eventId);
    }
    for (const command of commands) {
        waitingFor = `sending ${command}`;
        const content = { msgtype: "m.text", body: command };
        const { event_id: eventId } = await client.sendMessage(roomId, content);
        sentIds.add(eventId);
        emit("sent", { command, event_id: eventId });
        const reply = await until(`the bot's reply to ${command}`, () => replyTo(eventId));
        emit("reply", { command, in_reply_to: eventId, ...reply });
    }
    for (const text of args["await-notice"]) {
        const notice = await until(`a notice from the bot containing ${JSON.stringify(text)}`,
            () => [...others.values()].find((n) => n.body?.includes(text)));
        emit("notice", { text, ...notice });
    }

    clearTimeout(deadline);
    emit("done", { undecryptable: Object.fromEntries(undecryptable) });
    client.stopClient();
    process.exit(0);
}
