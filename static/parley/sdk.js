/*
 * Parley JS SDK: a thin client for Parley's realtime protocol (shared/PROTOCOL.md) whose
 * calls mirror Tencent Cloud Chat's Web SDK (@tencentcloud/chat), so code written for
 * one reads the same against the other. Plain ES2020, no build step, no dependencies.
 *
 *   const chat = ParleyChat.create({url: 'wss://chat.example/ws/'});  // url is optional
 *   chat.on(ParleyChat.EVENT.MESSAGE_RECEIVED, (event) => console.log(event.data));
 *   await chat.login({userID: 'alice', userSig});  // a signed-in browser: login({})
 *   const message = chat.createTextMessage({to: 'bob', conversationType: 'C2C',
 *                                           payload: {text: 'hi'}});
 *   const {data} = await chat.sendMessage(message);  // data.message is the stored one
 *
 * What the SDK does for the caller:
 * - One request id per call; a reply resolves the call's promise ({code: 0, data}) or
 *   rejects it with an Error carrying `code` (the server's code, or one below).
 * - Every message gets a uint32 `random` when it is created, and keeps it when sent
 *   again, so the server stores a resent message once (PROTOCOL.md, Retries).
 * - One device per browser: the device ID is kept in localStorage (`parley.deviceID`),
 *   so reloads and tabs are one Device row; each login() draws an instance ID, so the
 *   tabs of one browser coexist as web sessions (the login policy limits how many).
 * - The highest event `seq` seen is kept in localStorage per server and user and sent
 *   as `since` on login: a reconnect replays what was missed before SDK_READY.
 * - Every event is handed out once, in order: one whose `seq` is not above the one
 *   held is a repeat and is dropped; one whose `prevSeq` is above it means a live
 *   event was lost on its way (PROTOCOL.md, event chain): it is dropped too, and the
 *   SDK asks `sync {since}` on the same socket, which sends what was missed, in order.
 * - A dropped socket is reopened with backoff (never after KICKED_OUT or logout());
 *   calls made meanwhile wait, and calls in flight are sent again after the new login
 *   (every op the SDK offers is safe to repeat: sends are deduplicated by `random`).
 * - `ping` every 30 s (a missing answer counts as a dropped socket; so does the
 *   browser's `offline` event), and `ack` with the latest seq shortly after events.
 * - A conversation cache: the server sends changed conversations, the SDK's
 *   CONVERSATION_LIST_UPDATED hands out the whole list, newest first, as Tencent's
 *   does. After every login (and so after SYNC_RESET) the list is reloaded.
 * - Relationship lists, kept as Tencent's SDK keeps them: friends, friend requests
 *   (with their unreadCount), friend groups and the blocklist. Each is loaded before
 *   SDK_READY and handed out whole by its event right after it (FRIEND_LIST_UPDATED,
 *   FRIEND_APPLICATION_LIST_UPDATED {friendApplicationList, unreadCount},
 *   FRIEND_GROUP_LIST_UPDATED, BLACKLIST_UPDATED [userID]). The server's events say
 *   what changed (friends and groups as {added, updated, deleted}, requests and the
 *   blocklist whole), to every device of everyone concerned, the acting one too; the
 *   SDK folds them in and hands the whole list out again (or loads it afresh when an
 *   event cannot be folded in, or came while the list was loading). PROFILE_UPDATED
 *   ([Profile], mine or a friend's) also refreshes the profiles inside those lists and
 *   the conversations.
 * - Changes to stored messages: revokeMessage, modifyMessage (sends the message's
 *   `version`, so a stale edit is refused with 20028), deleteMessage, and per
 *   conversation deleteConversation, clearHistoryMessage, pinConversation,
 *   setConversationDraft, sendMessageReadReceipt. MESSAGE_REVOKED and MESSAGE_MODIFIED
 *   also update a conversation's cached lastMessage; a conversation deleted on another
 *   device leaves the cache. A recall resent after a reconnect that finds the message
 *   already recalled (20023) resolves as done.
 * - Message extensions (a message sent with isSupportExtension: true): setMessageExtensions
 *   (message, [{key, value}]) resolves to {extensions: [{code, key, value, seq}]}, code
 *   23001 for a key another device or the peer changed first (value and seq are then
 *   what is stored: decide and call again); getMessageExtensions(message, keyList?),
 *   deleteMessageExtensions(message, keyList?) (no keyList: all). The SDK sends each
 *   key's version as it last saw it (from these calls and the events), so a stale write
 *   is refused, never lost. MESSAGE_EXTENSIONS_UPDATED {messageID, extensions} and
 *   MESSAGE_EXTENSIONS_DELETED {messageID, keyList} reach both users' devices.
 * - Message reactions (any stored message): addMessageReaction(message, reactionID),
 *   removeMessageReaction(message, reactionID) (23007 made already, 23008 not made,
 *   23005 over 20 reaction IDs on the message, 20023 recalled);
 *   getMessageReactions({messageList, maxUserCountPerReaction?}) resolves to
 *   {resultList: [{messageID, reactionList: [{reactionID, totalUserCount,
 *   partialUserList: [{userID, nick, avatar}], reactedByMyself}]}]} (asked 20 messages
 *   at a time); getAllUserListOfMessageReaction({message, reactionID, nextSeq?, count?})
 *   to {userList, nextSeq, isCompleted}. MESSAGE_REACTIONS_UPDATED {messageID,
 *   reactionList: [the reaction that changed]} reaches both users' devices, this one
 *   too; a reaction with totalUserCount 0 is gone.
 * - Every message type: createTextMessage, createFaceMessage, createLocationMessage,
 *   createCustomMessage; createImageMessage, createAudioMessage, createVideoMessage and
 *   createFileMessage take payload.file (an <input type=file>, a File or a Blob), check
 *   it at once and make the message with local object URLs to show; sendMessage
 *   uploads it first (POST /api/v1/files/ multipart through XMLHttpRequest, reporting
 *   onProgress(fraction 0..1); authenticated as the page is: the session cookie and
 *   its CSRF token, or the login's UserSig) and sends the element the server made of
 *   it. A message once uploaded is not uploaded again when sent again.
 * - Merged and forwarded messages: createMergerMessage (each merged message in
 *   Tencent's list form {ID, from, to, time, seq, random, nick, avatar,
 *   cloudCustomData, messageBody}), createForwardMessage (a merged message the server
 *   stored apart goes by its downloadKey) and downloadMergerMessage (an inline list at
 *   once; a stored one asked for with the `downloadMergerMessage` op, once per key:
 *   the 50 last used are kept in memory until logout).
 *
 * Differences from Tencent's SDK worth knowing:
 * - Only C2C conversations; messages carry the wire's `elements` list and, for
 *   Tencent-style code, `type`/`payload` of their first element.
 * - login() without userSig authenticates by the page's session cookie; its `userID`
 *   then only names the local seq store (it is not sent).
 * - Extra event EVENT.MESSAGE_DELETED ({conversationID, messageIDList}): messages I
 *   deleted on another device of mine.
 * - Extra event EVENT.SYNC_RESET: the server could not replay everything missed; the
 *   conversation list is already reloaded, reload any history on screen.
 * - File payloads keep the server's key names (PROTOCOL.md "Messages": a file's and a
 *   voice's `url`, an image's imageInfoArray[].url), not Tencent's extra aliases
 *   (fileUrl, remoteAudioUrl, imageUrl, downloadFlag); onProgress gets a fraction 0..1.
 * - Extra method cancelUploadMessage(message): stops a file message's upload.
 * - File creators take Parley's extras payload.second (a voice's or video's length)
 *   and payload.thumb (a video's cover image); ParleyChat.create takes `uploadUrl`
 *   (default: /api/v1/files/ beside the socket's URL) and `csrfToken`.
 *
 * Errors the SDK raises itself (server codes: chat_project/errors.py). Creators throw
 * them; other calls reject with them. Tencent's Web SDK numbers where it has one:
 *   2108    the file is empty
 *   2251    createImageMessage without a file           2252  not a JPEG/PNG/GIF/BMP/WebP image
 *   2253    an image over 28 MB                         2301  a voice file over 28 MB
 *   2351    a video over 100 MB                         2352  not a video
 *   2401    createFile/Audio/VideoMessage without a file 2402  a file over 100 MB
 *   2300 / 2350 / 2400  the upload of a voice / a video / a file or an image failed
 *           (no connection, or an answer that is not the server's JSON; the server's
 *           own refusals keep its code: 910006 too large, 910007 not an image,
 *           910012 too many pixels, 910005 too many uploads a minute, 910011 the
 *           day's bytes used up, 910008/910009 not signed in / no CSRF token)
 *   2450    downloadMergerMessage of a message that is not merged
 *   2451    a merged message with neither a list nor a downloadKey
 *   2452    the server's answer to downloadMergerMessage has no messageList
 *   2453    merging or forwarding a message that was not sent, failed, or was recalled
 *   70002   call login() first
 *   910003  a bad argument (e.g. createTextMessage without `to`, a latitude over 90)
 *   910013  more than 300 messages to merge   \  the server's codes for the same
 *   910014  merged messages over 200 KB       /   limits, refused before sending
 *   910201  the connection ended for good (logout, kicked out) before an answer came
 *   910202  no answer in time (the call may still have happened; sends can be resent)
 *   910203  cancelUploadMessage() stopped the upload (Parley's; Tencent has no cancel)
 */
(function (root) {
  'use strict';

  const EVENT = Object.freeze({
    SDK_READY: 'sdkStateReady',
    SDK_NOT_READY: 'sdkStateNotReady',
    MESSAGE_RECEIVED: 'onMessageReceived',
    MESSAGE_MODIFIED: 'onMessageModified',
    MESSAGE_REVOKED: 'onMessageRevoked',
    MESSAGE_READ_BY_PEER: 'onMessageReadByPeer',
    MESSAGE_EXTENSIONS_UPDATED: 'onMessageExtensionsUpdated',
    MESSAGE_EXTENSIONS_DELETED: 'onMessageExtensionsDeleted',
    MESSAGE_REACTIONS_UPDATED: 'onMessageReactionsUpdated',
    CONVERSATION_LIST_UPDATED: 'onConversationListUpdated',
    TOTAL_UNREAD_MESSAGE_COUNT_UPDATED: 'onTotalUnreadMessageCountUpdated',
    PROFILE_UPDATED: 'onProfileUpdated',
    USER_STATUS_UPDATED: 'onUserStatusUpdated',
    BLACKLIST_UPDATED: 'blacklistUpdated',
    FRIEND_LIST_UPDATED: 'onFriendListUpdated',
    FRIEND_APPLICATION_LIST_UPDATED: 'onFriendApplicationListUpdated',
    FRIEND_GROUP_LIST_UPDATED: 'onFriendGroupListUpdated',
    KICKED_OUT: 'kickedOut',
    ERROR: 'error',
    NET_STATE_CHANGE: 'netStateChange',
    // Not in Tencent's SDK (it has no typing event and no reset notice).
    TYPING: 'onTyping',
    MESSAGE_DELETED: 'onMessageDeleted',
    SYNC_RESET: 'onSyncReset',
  });

  const TYPES = Object.freeze({
    MSG_TEXT: 'TIMTextElem',
    MSG_IMAGE: 'TIMImageElem',
    MSG_AUDIO: 'TIMSoundElem',
    MSG_FILE: 'TIMFileElem',
    MSG_FACE: 'TIMFaceElem',
    MSG_VIDEO: 'TIMVideoFileElem',
    MSG_LOCATION: 'TIMLocationElem',
    MSG_CUSTOM: 'TIMCustomElem',
    MSG_MERGER: 'TIMRelayElem',
    MSG_PRIORITY_HIGH: 'High',
    MSG_PRIORITY_NORMAL: 'Normal',
    MSG_PRIORITY_LOW: 'Low',
    MSG_PRIORITY_LOWEST: 'Lowest',
    CONV_C2C: 'C2C',
    NET_STATE_CONNECTED: 'connected',
    NET_STATE_CONNECTING: 'connecting',
    NET_STATE_DISCONNECTED: 'disconnected',
    KICKED_OUT_MULT_ACCOUNT: 'multipleAccount',
    KICKED_OUT_MULT_DEVICE: 'multipleDevice',
    KICKED_OUT_USERSIG_EXPIRED: 'userSigExpired',
    KICKED_OUT_REST_API: 'REST_API_Kick',
    USER_STATUS_UNKNOWN: 0,
    USER_STATUS_ONLINE: 1,
    USER_STATUS_OFFLINE: 2,
    USER_STATUS_UNLOGINED: 3,
    GENDER_UNKNOWN: 'Gender_Type_Unknown',
    GENDER_FEMALE: 'Gender_Type_Female',
    GENDER_MALE: 'Gender_Type_Male',
    ALLOW_TYPE_ALLOW_ANY: 'AllowType_Type_AllowAny',
    ALLOW_TYPE_NEED_CONFIRM: 'AllowType_Type_NeedConfirm',
    ALLOW_TYPE_DENY_ANY: 'AllowType_Type_DenyAny',
    FORBID_TYPE_NONE: 'AdminForbid_Type_None',
    FORBID_TYPE_SEND_OUT: 'AdminForbid_Type_SendOut',
    SNS_ADD_TYPE_SINGLE: 'Add_Type_Single',
    SNS_ADD_TYPE_BOTH: 'Add_Type_Both',
    SNS_DELETE_TYPE_SINGLE: 'Delete_Type_Single',
    SNS_DELETE_TYPE_BOTH: 'Delete_Type_Both',
    SNS_APPLICATION_TYPE_BOTH: 'Pendency_Type_Both',
    SNS_APPLICATION_SENT_TO_ME: 'Pendency_Type_ComeIn',
    SNS_APPLICATION_SENT_BY_ME: 'Pendency_Type_SendOut',
    SNS_APPLICATION_AGREE: 'Response_Action_Agree',
    SNS_APPLICATION_AGREE_AND_ADD: 'Response_Action_AgreeAndAdd',
    SNS_CHECK_TYPE_BOTH: 'CheckResult_Type_Both',
    SNS_CHECK_TYPE_SINGLE: 'CheckResult_Type_Single',
    SNS_TYPE_NO_RELATION: 'CheckResult_Type_NoRelation',
    SNS_TYPE_A_WITH_B: 'CheckResult_Type_AWithB',
    SNS_TYPE_B_WITH_A: 'CheckResult_Type_BWithA',
    SNS_TYPE_BOTH_WAY: 'CheckResult_Type_BothWay',
  });

  // Events that pass straight through: wire name -> EVENT value. The others
  // (SDK_READY, SYNC_RESET, KICKED_OUT, ERROR, conversation and unread updates,
  // MESSAGE_RECEIVED, MESSAGE_DELETED, the relationship lists below) are handled in
  // _onEvent.
  const PASS_THROUGH = {
    MESSAGE_MODIFIED: EVENT.MESSAGE_MODIFIED,
    MESSAGE_REVOKED: EVENT.MESSAGE_REVOKED,
    MESSAGE_READ_BY_PEER: EVENT.MESSAGE_READ_BY_PEER,
    PROFILE_UPDATED: EVENT.PROFILE_UPDATED,
    USER_STATUS_UPDATED: EVENT.USER_STATUS_UPDATED,
    TYPING: EVENT.TYPING,
    MESSAGE_REACTIONS_UPDATED: EVENT.MESSAGE_REACTIONS_UPDATED,
  };
  // Wire events that say one of the SDK's relationship lists changed: wire name -> the
  // list. The SDK reloads that list and hands the whole of it out, as Tencent's does.
  const LIST_EVENTS = {
    FRIEND_LIST_UPDATED: 'friends',
    FRIEND_APPLICATION_LIST_UPDATED: 'applications',
    FRIEND_GROUP_LIST_UPDATED: 'groups',
    BLACKLIST_UPDATED: 'blacklist',
  };
  const LIST_RELOAD_DELAY_MS = 30;
  const MESSAGE_EVENTS = new Set(['MESSAGE_MODIFIED', 'MESSAGE_REVOKED']);

  const PING_EVERY_MS = 30000;
  const PING_TIMEOUT_MS = 10000;
  const LOGIN_TIMEOUT_MS = 15000;
  const REQUEST_TIMEOUT_MS = 20000;
  const SEND_TIMEOUT_MS = 30000;
  const ACK_DELAY_MS = 1000;
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const CLOSE_KICKED = 4001;

  function chatError(code, message) {
    const err = new Error(message || `error ${code}`);
    err.code = code;
    return err;
  }

  function randomUint32() {
    const buf = new Uint32Array(1);
    (root.crypto || {getRandomValues: (a) => { a[0] = Math.random() * 2 ** 32; return a; }})
      .getRandomValues(buf);
    return buf[0];
  }

  function randomHex(words) {
    let out = '';
    for (let i = 0; i < words; i += 1) out += randomUint32().toString(16).padStart(8, '0');
    return out;
  }

  const DEVICE_KEY = 'parley.deviceID';

  /**
   * This browser's device ID, kept in localStorage: one browser is one device (one
   * Device row on the server) across page loads, tabs and sign-ins. Its tabs differ by
   * the instance ID each login() draws. With storage blocked, a new ID each call.
   */
  function browserDeviceID() {
    let id = '';
    try {
      id = root.localStorage.getItem(DEVICE_KEY) || '';
    } catch (err) { /* no storage: a new device each time */ }
    if (!/^web-[0-9a-f]{24}$/.test(id)) {
      id = `web-${randomHex(3)}`;
      try {
        root.localStorage.setItem(DEVICE_KEY, id);
      } catch (err) { /* as above */ }
    }
    return id;
  }

  function defaultUrl() {
    const loc = root.location;
    return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws/`;
  }

  /** A wire message plus Tencent's `type`/`payload` (of its first element), `sequence`
   *  and `isSystemMessage` (a system notice from the operators: the wire's `isSystem`). */
  function normalizeMessage(m) {
    if (!m || typeof m !== 'object') return m;
    const first = Array.isArray(m.elements) && m.elements.length ? m.elements[0] : null;
    return Object.assign({}, m, {
      type: first ? first.type : '',
      payload: first ? first.payload : {},
      sequence: m.seq,
      isSystemMessage: m.isSystem === true,
      status: m.status || 'success',
    });
  }

  // Tencent's nested offlinePushInfo names -> the protocol's flat ones (push/offline_info.py
  // reads both; a flat key the caller gave wins).
  const NESTED_PUSH_KEYS = {
    androidInfo: {sound: 'androidSound', OPPOChannelID: 'androidOPPOChannelID',
                  XiaoMiChannelID: 'androidXiaoMiChannelID', FCMChannelID: 'androidFCMChannelID',
                  VIVOClassification: 'androidVIVOClassification',
                  VIVOCategory: 'androidVIVOCategory', HuaWeiCategory: 'androidHuaWeiCategory'},
    apnsInfo: {sound: 'iOSSound', ignoreIOSBadge: 'ignoreIOSBadge'},
  };
  const FLAT_PUSH_KEYS = ['disablePush', 'title', 'description', 'extension', 'ignoreIOSBadge',
    'sound', 'androidOPPOChannelID', 'androidVIVOClassification', 'androidVIVOCategory',
    'androidHuaWeiCategory', 'androidHuaWeiImportance', 'androidHuaWeiChannelID',
    'androidHonorImportance', 'androidXiaoMiChannelID', 'androidFCMChannelID', 'androidImage',
    'androidSound', 'iOSSound', 'iOSSubtitle', 'iOSImage', 'iOSMutableContent', 'iOSPushType'];

  /** Tencent's offlinePushInfo (nested androidInfo/apnsInfo) in the protocol's flat shape. */
  function wirePushInfo(info) {
    if (!info || typeof info !== 'object') return null;
    const out = {};
    for (const key of FLAT_PUSH_KEYS) {
      if (info[key] !== undefined) out[key] = info[key];
    }
    for (const [group, keys] of Object.entries(NESTED_PUSH_KEYS)) {
      const part = info[group];
      if (!part || typeof part !== 'object') continue;
      for (const [nested, flat] of Object.entries(keys)) {
        if (part[nested] !== undefined && out[flat] === undefined) out[flat] = part[nested];
      }
    }
    return out;
  }

  // --- files, merged and forwarded messages (helpers) -------------------------------

  const MB = 1024 * 1024;
  // The file creators: the upload's `kind` (POST /api/v1/files/), the size limit
  // (DESIGN.md "Limits"; the server checks again, 910006) and the codes of Tencent's Web
  // SDK error table for each (ERROR_CODE: 2251-2253 image, 2300-2301 audio, 2350-2352
  // video, 2400-2402 file). Tencent's table has no code for a failed image upload (no
  // 2250): that one is 2400, "file upload failed".
  const FILE_KINDS = {
    image: {type: 'TIMImageElem', limit: 28 * MB, noFile: 2251, badType: 2252,
            tooLarge: 2253, failed: 2400, what: 'an image (JPEG, PNG, GIF, BMP or WebP)',
            mime: /^image\/(jpeg|jpg|pjpeg|png|gif|bmp|x-ms-bmp|webp)$/i,
            ext: /\.(jpe?g|png|gif|bmp|webp)$/i},
    sound: {type: 'TIMSoundElem', limit: 28 * MB, noFile: 2401, tooLarge: 2301, failed: 2300},
    video: {type: 'TIMVideoFileElem', limit: 100 * MB, noFile: 2401, badType: 2352,
            tooLarge: 2351, failed: 2350, what: 'a video',
            mime: /^video\//i, ext: /\.(mp4|m4v|mov|webm|ogv|mkv|avi|3gp)$/i},
    file: {type: 'TIMFileElem', limit: 100 * MB, noFile: 2401, tooLarge: 2402, failed: 2400},
  };
  const FILE_TYPES = new Set(Object.values(FILE_KINDS).map((k) => k.type));
  const FILE_IS_EMPTY = 2108;          // Tencent: an empty file cannot be sent
  const FORWARD_TYPE_INVALID = 2453;   // Tencent: this message cannot be forwarded
  const MERGER_TYPE_INVALID = 2450;    // Tencent: not a merged message
  const MERGER_KEY_INVALID = 2451;     // Tencent: the merged message's key is not valid
  const UPLOAD_CANCELLED = 910203;     // Parley's: cancelUploadMessage() stopped the upload
  // Why an upload was stopped: cancelUploadMessage(), logout().
  const STOPPED = {[UPLOAD_CANCELLED]: 'the upload was cancelled', 910201: 'logged out during the upload'};
  const MERGER_MAX_MESSAGES = 300;     // the server's limits (messaging/elements.py),
  const MERGER_MAX_BYTES = 200 * 1024; // refused with its codes before anything is sent
  const MERGER_CACHE_KEYS = 50;        // lists kept (up to 200 KB each), the oldest go first

  /** A Blob or File, this window's or another's (an iframe's fails instanceof). */
  function isBlob(value) {
    if (!value || typeof value !== 'object') return false;
    if (typeof root.Blob === 'function' && value instanceof root.Blob) return true;
    return Object.prototype.toString.call(value) === '[object File]'
      || Object.prototype.toString.call(value) === '[object Blob]';
  }

  /** The File (or Blob) given as payload.file: an <input type=file> (its first file),
   * a File or a Blob; null if none. */
  function fileOf(value) {
    if (!value || typeof value !== 'object') return null;
    if (isBlob(value)) return value;
    const files = value.files;
    if (files && typeof files.length === 'number') {
      const first = files.length ? files[0] : null;
      return isBlob(first) ? first : null;
    }
    return null;
  }

  /** A file element still waiting for its upload (made by a file creator). */
  function unuploaded(elements) {
    return (elements || []).some((e) => e && FILE_TYPES.has(e.type) && e.payload
      && (e.payload.uuid === '' || e.payload.videoUUID === ''));
  }

  /** The name a file is uploaded under: its own, or one made from its MIME type. */
  function fileName(file, kind) {
    if (typeof file.name === 'string' && file.name) return file.name;
    const sub = /^[a-z]+\/([a-z0-9.+-]+)$/i.exec(file.type || '');
    const ext = sub ? sub[1].replace(/^x-/, '').replace(/[^a-z0-9]/gi, '').slice(0, 8) : '';
    return ext ? `${kind}.${ext}` : kind;
  }

  function localUrl(file) {
    const URL_ = root.URL;
    if (!URL_ || typeof URL_.createObjectURL !== 'function') return '';
    try {
      return URL_.createObjectURL(file);
    } catch (err) {
      return '';  // not a Blob this environment can point to
    }
  }

  /** Why `file` cannot be sent as `kind`: an Error with Tencent's code, or null. */
  function fileProblem(kind, file) {
    const spec = FILE_KINDS[kind];
    if (!file) return chatError(spec.noFile, `payload.file must be an <input type=file> with a file, a File or a Blob`);
    if (spec.mime) {
      const ok = file.type ? spec.mime.test(file.type) : spec.ext.test(file.name || '');
      if (!ok) return chatError(spec.badType, `the file is not ${spec.what}`);
    }
    if (!file.size) return chatError(FILE_IS_EMPTY, 'the file is empty');
    if (file.size > spec.limit) {
      return chatError(spec.tooLarge,
        `the file is ${file.size} bytes; at most ${spec.limit} (${spec.limit / MB} MB) are allowed`);
    }
    return null;
  }

  /** A message element as it is before its upload: the server's shape with local URLs,
   * and every kind with the file's fileName and fileSize (the server's element, which
   * replaces it, has them only for a file). */
  function localPayload(kind, file, url, extra) {
    const local = {fileName: fileName(file, kind), fileSize: file.size};
    if (kind === 'image') {
      return Object.assign({uuid: '', format: 'UNKNOWN', imageInfoArray: [1, 2, 3].map((type) => (
        {type, size: file.size, width: 0, height: 0, url}))}, local);
    }
    if (kind === 'sound') return Object.assign({uuid: '', url, size: file.size, second: extra.second}, local);
    if (kind === 'file') return Object.assign({uuid: '', url}, local);
    const ext = /\.([a-z0-9]{1,16})$/i.exec(local.fileName);
    return Object.assign({videoUUID: '', videoUrl: url, videoSize: file.size, videoSecond: extra.second,
                          videoFormat: ext ? ext[1].toLowerCase() : 'mp4', thumbUUID: '',
                          thumbUrl: extra.thumbUrl, thumbWidth: 0, thumbHeight: 0}, local);
  }

  /** POST /api/v1/files/ beside the socket's URL: ws://host/ws/ -> http://host/api/v1/files/. */
  function uploadUrlFor(wsUrl) {
    try {
      const base = root.location && root.location.href;
      const u = base ? new URL(wsUrl, base) : new URL(wsUrl);
      u.protocol = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
      let path = u.pathname.replace(/ws\/?$/, '');
      if (!path.endsWith('/')) path += '/';
      u.pathname = `${path}api/v1/files/`;
      u.search = '';
      u.hash = '';
      return u.toString();
    } catch (err) {
      return '/api/v1/files/';
    }
  }

  function cookie(name) {
    const doc = root.document;
    if (!doc || typeof doc.cookie !== 'string') return '';
    for (const part of doc.cookie.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) {
        try {
          return decodeURIComponent(part.slice(eq + 1).trim());
        } catch (err) {
          return '';
        }
      }
    }
    return '';
  }

  /** The page's CSRF token (Django): its cookie, else the one in a form on the page. */
  function pageCsrfToken() {
    const fromCookie = cookie('csrftoken');
    if (fromCookie) return fromCookie;
    const doc = root.document;
    const input = doc && typeof doc.querySelector === 'function'
      ? doc.querySelector('input[name=csrfmiddlewaretoken]') : null;
    return input && typeof input.value === 'string' ? input.value : '';
  }

  /** Whether a message was stored by the server and may be merged or forwarded: an
   * Error (Tencent's 2453) if not. */
  function forwardProblem(m) {
    if (!m || typeof m !== 'object' || !Array.isArray(m.elements) || !m.elements.length) {
      return chatError(FORWARD_TYPE_INVALID, 'a message from the SDK is needed (one with elements)');
    }
    if (m.isRevoked) return chatError(FORWARD_TYPE_INVALID, 'a recalled message cannot be forwarded');
    if (m.status === 'unSend' || m.status === 'fail' || String(m.ID || '').startsWith('local-')) {
      return chatError(FORWARD_TYPE_INVALID, 'a message that was not sent cannot be forwarded');
    }
    return null;
  }

  function clone(value) {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  }

  /** Elements as they go on the wire again: a merged message known by its downloadKey
   * goes by that key alone (a list downloaded into it stays local); an inline list's
   * messages go in their wire form. */
  function wireElements(elements) {
    return (elements || []).map((e) => {
      const out = clone(e);
      const p = out && out.type === 'TIMRelayElem' ? out.payload : null;
      if (p && typeof p === 'object') {
        if (p.downloadKey) {
          delete p.messageList;
        } else if (Array.isArray(p.messageList)) {
          p.messageList = p.messageList.map(mergedItem);
        }
      }
      return out;
    });
  }

  /** One message as a merged message's list keeps it: Tencent's keys, nothing local. */
  function mergedItem(m) {
    if (!m || typeof m !== 'object') return m;
    const out = {};
    for (const key of ['ID', 'from', 'to', 'time', 'seq', 'random', 'nick', 'avatar',
      'cloudCustomData']) {
      if (m[key] !== undefined && m[key] !== null) out[key] = m[key];
    }
    out.messageBody = wireElements(Array.isArray(m.elements) ? m.elements : m.messageBody);
    return out;
  }

  function utf8Bytes(text) {
    if (typeof root.TextEncoder === 'function') return new root.TextEncoder().encode(text).length;
    return unescape(encodeURIComponent(text)).length;
  }

  function lastTime(conv) {
    return conv.lastMessage && conv.lastMessage.time ? conv.lastMessage.time : 0;
  }

  /** The keys of `options` in `keys` that are set, as a new object (an op's data). */
  function pick(options, keys) {
    const out = {};
    for (const key of keys) {
      if (options && options[key] !== undefined) out[key] = options[key];
    }
    return out;
  }

  function arrayIn(reply, ...keys) {
    if (Array.isArray(reply)) return reply;
    for (const key of keys) {
      if (reply && Array.isArray(reply[key])) return reply[key];
    }
    return [];
  }

  /** Upsert `items` (objects keyed by `key`) into `list` and drop `deleted` keys. */
  function mergeByKey(list, key, items, deleted) {
    const gone = new Set(deleted || []);
    const fresh = new Map();
    for (const item of items || []) {
      if (item && item[key] !== undefined) fresh.set(item[key], item);
    }
    const out = [];
    for (const item of list) {
      const k = item[key];
      if (gone.has(k) && !fresh.has(k)) continue;
      if (fresh.has(k)) {
        out.push(fresh.get(k));
        fresh.delete(k);
      } else {
        out.push(item);
      }
    }
    for (const item of fresh.values()) out.push(item);
    return out;
  }

  function isDelta(data) {
    return !!data && typeof data === 'object' && !Array.isArray(data)
      && (Array.isArray(data.added) || Array.isArray(data.updated) || Array.isArray(data.deleted));
  }

  const APPLICATION_EVENT_LIMIT = 100;  // the server sends at most this many in an event

  function parseApplications(reply) {
    return {
      friendApplicationList: arrayIn(reply, 'friendApplicationList'),
      unreadCount: (reply && Number.isInteger(reply.unreadCount)) ? reply.unreadCount : 0,
    };
  }

  // The relationship lists the SDK keeps: how each is loaded, the event that hands it
  // out, and how a wire event changes it (`apply` returns the new value, or null when
  // the list must be loaded again).
  const LISTS = {
    friends: {
      // getFriendList is paged on the wire; the SDK gathers every page.
      load: (chat) => chat._loadFriendPages(),
      event: EVENT.FRIEND_LIST_UPDATED,
      empty: () => [],
      copy: (v) => v.slice(),
      apply: (value, data) => (isDelta(data)
        ? mergeByKey(value, 'userID', [...(data.added || []), ...(data.updated || [])],
          data.deleted)
        : null),
    },
    applications: {
      load: (chat) => chat._request('getFriendApplicationList', {}).then(parseApplications),
      event: EVENT.FRIEND_APPLICATION_LIST_UPDATED,
      empty: () => ({friendApplicationList: [], unreadCount: 0}),
      copy: (v) => ({friendApplicationList: v.friendApplicationList.slice(),
                     unreadCount: v.unreadCount}),
      // The event carries the newest requests both ways; when it may have left some
      // out, the whole list is loaded.
      apply: (value, data) => {
        const next = parseApplications(data);
        return next.friendApplicationList.length >= APPLICATION_EVENT_LIMIT ? null : next;
      },
    },
    groups: {
      load: (chat) => chat._request('getFriendGroupList', {})
        .then((reply) => arrayIn(reply, 'friendGroupList')),
      event: EVENT.FRIEND_GROUP_LIST_UPDATED,
      empty: () => [],
      copy: (v) => v.slice(),
      apply: (value, data) => {
        if (Array.isArray(data)) return data;
        if (!isDelta(data)) return null;
        // A rename is the old name deleted and the new one added.
        return mergeByKey(value, 'name', [...(data.updated || []), ...(data.added || [])],
          data.deleted);
      },
    },
    blacklist: {
      load: (chat) => chat._request('getBlacklist', {}).then(parseBlacklist),
      event: EVENT.BLACKLIST_UPDATED,
      empty: () => [],
      copy: (v) => v.slice(),
      apply: (value, data) => (Array.isArray(data) ? parseBlacklist(data) : null),
    },
  };

  // Tencent's blacklist is a list of UserIDs.
  function parseBlacklist(reply) {
    return arrayIn(reply, 'blacklist', 'userIDList')
      .map((item) => (item && typeof item === 'object' ? item.userID : item))
      .filter((id) => typeof id === 'string');
  }

  const FRIEND_PAGE = 1000;

  class Chat {
    constructor(options = {}) {
      this._url = options.url || defaultUrl();
      this._uploadUrl = options.uploadUrl || uploadUrlFor(this._url);
      this._csrfToken = typeof options.csrfToken === 'string' ? options.csrfToken : '';
      this._uploads = new WeakMap();    // message -> its file's upload (see sendMessage)
      this._uploading = new Set();      // the uploads in flight (stopped by logout)
      this._mergerLists = new Map();    // downloadKey -> Promise of its messageList
      this._extensionSeqs = new Map();  // messageID -> Map key -> version last seen
      this._handlers = new Map();       // event name -> [{fn, ctx}]
      this._ws = null;
      this._nextId = 0;
      this._pending = new Map();        // request id -> {op, data, resolve, reject, timer, direct, sent}
      this._loginOptions = null;        // set by login(), cleared by logout()
      this._loginWaiter = null;         // the first login()'s promise callbacks
      this._stopped = true;             // no (re)connecting
      this._loggedIn = false;           // the current socket's login was answered ok
      this._ready = false;              // SDK_READY seen on the current socket
      this._replaying = false;
      this._resetPending = false;
      this._syncing = null;             // the socket a `sync` is in flight on
      this._syncTarget = null;          // the seq the last `sync` brings us to
      // IDs of messages this client sent and had acknowledged: the sending device gets
      // no echo of its own send, but a catch-up after a channel-layer outage can replay
      // one (its no-echo marker was lost with the outage); it is not handed out twice.
      this._sentIDs = new Set();
      this._userID = '';
      this._seq = 0;
      this._ackedSeq = 0;
      this._attempt = 0;
      this._netState = TYPES.NET_STATE_DISCONNECTED;
      this._timers = {reconnect: null, ping: null, ack: null};
      this._conversations = new Map();  // conversationID -> conversation
      this._order = new Map();          // conversationID -> tie-breaker, higher is newer
      this._touch = 0;
      this._totalUnread = 0;
      this._lists = {};                 // name (LISTS) -> {value, gen, applied, reloading, again}
      this._resetLists();
      this._dirtyLists = new Set();     // lists to reload once ready (their event came)
      this._listTimer = null;
      // The browser knows of a lost network long before a ping would time out.
      this._onOnline = () => {
        if (this._timers.reconnect !== null) this._connect();
      };
      this._onOffline = () => {
        if (this._ws) this._drop(this._ws);
      };
      if (typeof root.addEventListener === 'function') {
        root.addEventListener('online', this._onOnline);
        root.addEventListener('offline', this._onOffline);
      }
    }

    // --- events ---------------------------------------------------------------------

    on(eventName, handler, context) {
      if (typeof handler !== 'function') throw chatError(910003, 'handler must be a function');
      if (!this._handlers.has(eventName)) this._handlers.set(eventName, []);
      this._handlers.get(eventName).push({fn: handler, ctx: context});
    }

    off(eventName, handler) {
      const list = this._handlers.get(eventName);
      if (!list) return;
      this._handlers.set(eventName, list.filter((h) => h.fn !== handler));
    }

    _emit(name, data) {
      const list = this._handlers.get(name);
      if (!list) return;
      for (const {fn, ctx} of list.slice()) {
        try {
          fn.call(ctx, {name, data});
        } catch (err) {
          console.error('ParleyChat: a handler of', name, 'failed:', err);
        }
      }
    }

    // --- session --------------------------------------------------------------------

    /**
     * Connect and log in. With userSig: {userID, userSig}; in a signed-in browser
     * neither is needed. Resolves when the server accepts the login; a network failure
     * before that is retried with backoff.
     */
    login(options = {}) {
      if (this._loginOptions) {
        return Promise.reject(chatError(910003, 'already logged in; call logout() first'));
      }
      this._loginOptions = {
        userID: options.userID || '',
        userSig: options.userSig || '',
        // One device per browser; one instance per login (a tab), so that tabs of
        // one browser coexist and a reconnect of this one replaces its old socket.
        deviceID: options.deviceID || browserDeviceID(),
        instanceID: options.instanceID || randomHex(2),
        platform: options.platform || 'Web',
      };
      this._userID = this._loginOptions.userID;
      this._seq = this._loadSeq();
      this._ackedSeq = this._seq;
      this._stopped = false;
      this._attempt = 0;
      return new Promise((resolve, reject) => {
        this._loginWaiter = {resolve, reject};
        this._connect();
      });
    }

    logout() {
      // Tell the server first (best effort: the frame goes out before the close), so
      // the app's State.StateChange callback hears Logout rather than a lost link.
      if (this._ws && this._ws.readyState === 1 && this._ready) {
        try { this._ws.send(JSON.stringify({op: 'logout', data: {}})); } catch (e) { /* closing */ }
      }
      this._loginOptions = null;
      for (const upload of Array.from(this._uploading)) this._stopUpload(upload, 910201);
      this._shutdown(chatError(910201, 'logged out'));
      this._mergerLists.clear();  // what this user could read; the next may not
      this._extensionSeqs.clear();
      this._conversations.clear();
      this._order.clear();
      this._totalUnread = 0;
      this._resetLists();
      this._userID = '';
      return Promise.resolve({code: 0, data: {}});
    }

    destroy() {
      const done = this.logout();
      this._handlers.clear();
      if (typeof root.removeEventListener === 'function') {
        root.removeEventListener('online', this._onOnline);
        root.removeEventListener('offline', this._onOffline);
      }
      return done;
    }

    isReady() {
      return this._ready;
    }

    getLoginUser() {
      return this._userID;
    }

    // --- messages -------------------------------------------------------------------

    _createMessage(type, options, payload) {
      if (!options || typeof options.to !== 'string' || !options.to) {
        throw chatError(910003, 'to must be a UserID');
      }
      const conversationType = options.conversationType || TYPES.CONV_C2C;
      if (conversationType !== TYPES.CONV_C2C) {
        throw chatError(910003, 'only C2C conversations are supported');
      }
      const random = randomUint32();
      return {
        ID: `local-${Date.now()}-${random}`,
        type,
        payload,
        elements: [{type, payload}],
        conversationID: `C2C${options.to}`,
        conversationType,
        from: this._userID,
        to: options.to,
        flow: 'out',
        time: Math.floor(Date.now() / 1000),
        seq: 0,
        sequence: 0,
        random,
        priority: options.priority || TYPES.MSG_PRIORITY_NORMAL,
        cloudCustomData: options.cloudCustomData || '',
        needReadReceipt: !!options.needReadReceipt,
        isSupportExtension: !!options.isSupportExtension,
        nick: '',
        avatar: '',
        isPeerRead: false,
        isRevoked: false,
        isModified: false,
        isSystem: false,
        isSystemMessage: false,
        status: 'unSend',
      };
    }

    createTextMessage(options) {
      const text = options && options.payload ? options.payload.text : undefined;
      if (typeof text !== 'string' || text === '') {
        throw chatError(910003, 'payload.text must be a non-empty string');
      }
      return this._createMessage(TYPES.MSG_TEXT, options, {text});
    }

    /** {to, conversationType, payload: {data?, description?, extension?}}: strings, one
     * of them not empty (Tencent's custom message). */
    createCustomMessage(options) {
      const p = (options && options.payload) || {};
      const payload = {};
      for (const key of ['data', 'description', 'extension']) {
        const value = p[key] === undefined || p[key] === null ? '' : p[key];
        if (typeof value !== 'string') throw chatError(910003, `payload.${key} must be a string`);
        payload[key] = value;
      }
      if (!payload.data && !payload.description && !payload.extension) {
        throw chatError(910003, 'a custom message needs payload.data, description or extension');
      }
      return this._createMessage(TYPES.MSG_CUSTOM, options, payload);
    }

    /** {to, conversationType, payload: {index, data?}}: index a whole number >= 0 (the
     * face's place in the app's set), data a string (e.g. the sticker's name). */
    createFaceMessage(options) {
      const p = (options && options.payload) || {};
      if (!Number.isSafeInteger(p.index) || p.index < 0) {
        throw chatError(910003, 'payload.index must be a whole number, 0 or more');
      }
      const data = p.data === undefined || p.data === null ? '' : p.data;
      if (typeof data !== 'string') throw chatError(910003, 'payload.data must be a string');
      return this._createMessage(TYPES.MSG_FACE, options, {index: p.index, data});
    }

    /** {to, conversationType, payload: {description?, longitude, latitude}}: degrees,
     * longitude -180..180, latitude -90..90. */
    createLocationMessage(options) {
      const p = (options && options.payload) || {};
      const description = p.description === undefined || p.description === null ? '' : p.description;
      if (typeof description !== 'string') throw chatError(910003, 'payload.description must be a string');
      for (const [key, bound] of [['longitude', 180], ['latitude', 90]]) {
        const value = p[key];
        if (typeof value !== 'number' || !Number.isFinite(value) || value < -bound || value > bound) {
          throw chatError(910003, `payload.${key} must be a number from -${bound} to ${bound}`);
        }
      }
      return this._createMessage(TYPES.MSG_LOCATION, options, {
        description, longitude: p.longitude, latitude: p.latitude,
      });
    }

    // --- files: created now, uploaded by sendMessage ---------------------------------

    /**
     * {to, conversationType, payload: {file}, onProgress?}: `file` is an <input
     * type=file> (its first file), a File or a Blob. Throws 2251 (no file), 2252 (not a
     * JPEG, PNG, GIF, BMP or WebP image), 2108 (empty), 2253 (over 28 MB). The message
     * shows the picture at once (imageInfoArray's url is a local object URL);
     * sendMessage uploads it, calling onProgress(fraction 0..1), then sends it.
     */
    createImageMessage(options) {
      return this._createFileMessage('image', options);
    }

    /** As createImageMessage, for a voice message: payload {file, second?} (its length
     * in seconds, Parley's). Throws 2401, 2108, 2301 (over 28 MB). */
    createAudioMessage(options) {
      return this._createFileMessage('sound', options);
    }

    /** As createImageMessage, for a video: payload {file, second?, thumb?} (`thumb`, a
     * cover image, Parley's). Throws 2401, 2352 (not a video), 2108, 2351 (over 100 MB). */
    createVideoMessage(options) {
      return this._createFileMessage('video', options);
    }

    /** As createImageMessage, for any file. Throws 2401, 2108, 2402 (over 100 MB). */
    createFileMessage(options) {
      return this._createFileMessage('file', options);
    }

    _createFileMessage(kind, options) {
      const p = (options && options.payload) || {};
      const file = fileOf(p.file);
      const problem = fileProblem(kind, file);
      if (problem) throw problem;
      const second = p.second === undefined || p.second === null ? 0 : p.second;
      if (!Number.isSafeInteger(second) || second < 0 || second > 0xFFFFFFFF) {
        throw chatError(910003, 'payload.second must be a whole number of seconds');
      }
      let thumb = null;
      if (kind === 'video' && p.thumb !== undefined && p.thumb !== null) {
        thumb = fileOf(p.thumb);
        const bad = fileProblem('image', thumb);
        if (bad) throw chatError(bad.code, `payload.thumb: ${bad.message}`);
      }
      const onProgress = options.onProgress;
      if (onProgress !== undefined && onProgress !== null && typeof onProgress !== 'function') {
        throw chatError(910003, 'onProgress must be a function');
      }
      const message = this._createMessage(FILE_KINDS[kind].type, options, {});
      const payload = localPayload(kind, file, localUrl(file),
        {second, thumbUrl: thumb ? localUrl(thumb) : ''});
      message.payload = payload;
      message.elements[0].payload = payload;
      this._uploads.set(message, {kind, file, thumb, second, onProgress, element: null,
                                  pending: null, xhr: null, stopCode: 0});
      return message;
    }

    /**
     * Parley's (Tencent's SDK has none): stop the upload of a file message that
     * sendMessage is uploading. Its sendMessage rejects with 910203 and the message is
     * 'fail'; sending it again starts the upload over. Returns whether an upload was
     * stopped (false once the file is uploaded: the send itself cannot be called back).
     */
    cancelUploadMessage(message) {
      const upload = message && typeof message === 'object' ? this._uploads.get(message) : null;
      if (!upload || !upload.xhr) return false;
      this._stopUpload(upload, UPLOAD_CANCELLED);
      return true;
    }

    _stopUpload(upload, code) {
      upload.stopCode = code;
      if (upload.xhr) upload.xhr.abort();
    }

    /** The file's upload, once: its element then replaces the local one. */
    _uploadFile(message, upload) {
      if (upload.pending) return upload.pending;
      const problem = fileProblem(upload.kind, upload.file)
        || (upload.thumb ? fileProblem('image', upload.thumb) : null);
      if (problem) return Promise.reject(problem);
      upload.pending = this._postFile(upload).then((element) => {
        upload.element = element;
        message.elements = [element];
        message.type = element.type;
        message.payload = element.payload;
      }).finally(() => {
        upload.pending = null;
        upload.xhr = null;
        this._uploading.delete(upload);
      });
      return upload.pending;
    }

    /** POST the file (multipart, XMLHttpRequest for its upload progress); resolves to
     * the element the server made of it. */
    _postFile(upload) {
      const spec = FILE_KINDS[upload.kind];
      return new Promise((resolve, reject) => {
        let xhr;
        try {
          xhr = new root.XMLHttpRequest();
          xhr.open('POST', this._uploadUrl);
          for (const [name, value] of Object.entries(this._uploadHeaders())) {
            xhr.setRequestHeader(name, value);
          }
        } catch (err) {
          reject(chatError(spec.failed, `the upload could not start: ${err.message || err}`));
          return;
        }
        upload.xhr = xhr;
        upload.stopCode = 0;
        this._uploading.add(upload);
        if (xhr.upload) {
          xhr.upload.onprogress = (ev) => {
            if (ev.lengthComputable && ev.total > 0) {
              this._progress(upload, Math.min(1, ev.loaded / ev.total));
            }
          };
        }
        xhr.onload = () => {
          let reply = null;
          try {
            reply = JSON.parse(xhr.responseText);
          } catch (err) { /* not JSON: a proxy's page */ }
          if (xhr.status >= 200 && xhr.status < 300) {
            if (reply && reply.type === spec.type && reply.payload && typeof reply.payload === 'object') {
              this._progress(upload, 1);
              resolve(reply);
            } else {
              reject(chatError(spec.failed, 'the server did not answer the upload with its element'));
            }
            return;
          }
          let err;
          if (reply && Number.isInteger(reply.code)) {
            err = chatError(reply.code, reply.message);  // 910006, 910005, 910011, 910012 ...
          } else if (xhr.status === 413) {
            err = chatError(spec.tooLarge, 'the file is larger than the server takes (HTTP 413)');
          } else {
            err = chatError(spec.failed, `the upload failed (HTTP ${xhr.status})`);
          }
          err.httpStatus = xhr.status;
          reject(err);
        };
        xhr.onerror = () => reject(chatError(spec.failed, 'the upload failed: no connection to the server'));
        xhr.ontimeout = xhr.onerror;
        xhr.onabort = () => reject(upload.stopCode
          ? chatError(upload.stopCode, STOPPED[upload.stopCode])
          : chatError(spec.failed, 'the upload was interrupted'));
        const form = new root.FormData();
        form.append('kind', upload.kind);
        form.append('file', upload.file, fileName(upload.file, upload.kind));
        if (upload.second) form.append('second', String(upload.second));
        if (upload.thumb) form.append('thumb', upload.thumb, fileName(upload.thumb, 'cover'));
        xhr.send(form);
      });
    }

    _progress(upload, fraction) {
      if (typeof upload.onProgress !== 'function') return;
      try {
        upload.onProgress(fraction);
      } catch (err) {
        console.error('ParleyChat: onProgress failed:', err);  // the upload goes on
      }
    }

    /** REST authentication as the page has it: a UserSig login sends its UserSig; a
     * signed-in browser its session cookie (sent by the browser) and CSRF token. */
    _uploadHeaders() {
      const o = this._loginOptions || {};
      const headers = {};
      if (o.userSig) headers.Authorization = `UserSig ${o.userID}:${o.userSig}`;
      const csrf = this._csrfToken || pageCsrfToken();
      if (csrf) headers['X-CSRFToken'] = csrf;
      return headers;
    }

    // --- merged and forwarded messages -----------------------------------------------

    /**
     * {to, conversationType, payload: {messageList, title, abstractList?,
     * compatibleText}}: messageList holds messages as the SDK handed them out (sent,
     * not recalled: else 2453), 1 to 300 (else 910003 / 910013), at most 200 KB as
     * JSON (910014); title and compatibleText are non-empty strings (910003). The
     * element carries each message as Tencent's SDK keeps it: {ID, from, to, time,
     * seq, random, nick, avatar, cloudCustomData, messageBody}.
     */
    createMergerMessage(options) {
      const p = (options && options.payload) || {};
      const list = p.messageList;
      if (!Array.isArray(list) || !list.length) {
        throw chatError(910003, 'payload.messageList must be a non-empty list of messages');
      }
      if (list.length > MERGER_MAX_MESSAGES) {
        throw chatError(910013, `at most ${MERGER_MAX_MESSAGES} messages can be merged; ${list.length} were given`);
      }
      for (const m of list) {
        const problem = forwardProblem(m);
        if (problem) throw problem;
      }
      for (const key of ['title', 'compatibleText']) {
        if (typeof p[key] !== 'string' || !p[key]) {
          throw chatError(910003, `payload.${key} must be a non-empty string`);
        }
      }
      const abstractList = p.abstractList === undefined || p.abstractList === null ? [] : p.abstractList;
      if (!Array.isArray(abstractList) || !abstractList.every((a) => typeof a === 'string')) {
        throw chatError(910003, 'payload.abstractList must be a list of strings');
      }
      const messageList = list.map(mergedItem);
      const bytes = utf8Bytes(JSON.stringify(messageList));
      if (bytes > MERGER_MAX_BYTES) {
        throw chatError(910014, `the merged messages are ${bytes} bytes; at most ${MERGER_MAX_BYTES}`);
      }
      return this._createMessage(TYPES.MSG_MERGER, options, {
        title: p.title, abstractList: abstractList.slice(), compatibleText: p.compatibleText,
        messageList,
      });
    }

    /**
     * {to, conversationType, payload: message}: a new message with the elements of a
     * stored one (sent, not recalled: else 2453), and its cloudCustomData unless the
     * options give one. A merged message known by its downloadKey goes by that key.
     */
    createForwardMessage(options) {
      const original = options && options.payload;
      const problem = forwardProblem(original);
      if (problem) throw problem;
      const elements = wireElements(original.elements);
      const opts = Object.assign({}, options);
      if (opts.cloudCustomData === undefined) opts.cloudCustomData = original.cloudCustomData || '';
      const message = this._createMessage(elements[0].type, opts, elements[0].payload);
      message.elements = elements;
      return message;
    }

    /**
     * The messages inside a merged message: resolves {code: 0, data: message} with
     * message.payload.messageList filled in (as Tencent's), each a message object
     * (`elements`, and Tencent's `messageBody`, `type`, `payload`). An inline list is
     * at hand; a stored one is asked for once per downloadKey (then kept in memory).
     * Rejects 2450 (not a merged message), 2451 (no downloadKey), or the server's code
     * (not found for anyone without the message in their history).
     */
    downloadMergerMessage(message) {
      const elem = message && Array.isArray(message.elements)
        ? message.elements.find((e) => e && e.type === TYPES.MSG_MERGER) : null;
      if (!elem || !elem.payload || typeof elem.payload !== 'object') {
        return Promise.reject(chatError(MERGER_TYPE_INVALID, 'not a merged message'));
      }
      const payload = elem.payload;
      const fill = (list) => {
        const items = list.map((m) => this._mergedMessage(m));
        payload.messageList = items;
        if (message.payload && message.payload !== payload && message.type === TYPES.MSG_MERGER) {
          message.payload.messageList = items;
        }
        return {code: 0, data: message};
      };
      const key = payload.downloadKey;
      if (!key && Array.isArray(payload.messageList)) return Promise.resolve(fill(payload.messageList));
      if (typeof key !== 'string' || !key) {
        return Promise.reject(chatError(MERGER_KEY_INVALID, 'the merged message has no list and no downloadKey'));
      }
      let pending = this._mergerLists.get(key);
      if (pending) {
        this._mergerLists.delete(key);  // kept as the most recent
      } else {
        pending = this._request('downloadMergerMessage', {downloadKey: key}).then((reply) => {
          if (!reply || !Array.isArray(reply.messageList)) {
            throw chatError(2452, 'the server answered without a messageList');
          }
          return reply.messageList;
        });
        pending.catch(() => {
          if (this._mergerLists.get(key) === pending) this._mergerLists.delete(key);
        });
      }
      this._keepMergerList(key, pending);
      return pending.then(fill);
    }

    _keepMergerList(key, pending) {
      this._mergerLists.set(key, pending);
      while (this._mergerLists.size > MERGER_CACHE_KEYS) {
        this._mergerLists.delete(this._mergerLists.keys().next().value);
      }
    }

    /** A merged list's item as a message object (read-only: it was not sent again). */
    _mergedMessage(item) {
      if (!item || typeof item !== 'object') return item;
      const elements = Array.isArray(item.elements) ? item.elements
        : (Array.isArray(item.messageBody) ? item.messageBody : []);
      const out = normalizeMessage(Object.assign({}, item, {elements}));
      out.messageBody = elements;
      out.conversationType = TYPES.CONV_C2C;
      out.flow = item.from && item.from === this._userID ? 'out' : 'in';
      return out;
    }

    /**
     * Send a message made by create*Message. Resolves {code: 0, data: {message}} with
     * the message object updated in place to the stored one; rejects with an Error
     * carrying `code` and `data.message` (status 'fail'). Sending the same object
     * again reuses its `random`, so the server stores it once. A file message is
     * uploaded first (once: sent again, it is not uploaded again).
     */
    sendMessage(message, options = {}) {
      if (!message || !Array.isArray(message.elements) || !message.to) {
        return Promise.reject(chatError(910003, 'sendMessage needs a message from create*Message'));
      }
      if (!this._loginOptions) return Promise.reject(chatError(70002, 'call login() first'));
      const upload = this._uploads.get(message);
      if (!upload && unuploaded(message.elements)) {
        return Promise.reject(chatError(910003,
          'send the message object the file creator returned (a copy has no file to upload)'));
      }
      if (!upload || upload.element) return this._sendElements(message, options);
      message.status = 'unSend';
      return this._uploadFile(message, upload).then(
        () => this._sendElements(message, options),
        (err) => {
          message.status = 'fail';
          err.data = {message};
          throw err;
        },
      );
    }

    _sendElements(message, options) {
      if (!Number.isInteger(message.random)) message.random = randomUint32();
      const data = {
        to: message.to,
        elements: wireElements(message.elements),
        random: message.random,
        priority: message.priority || TYPES.MSG_PRIORITY_NORMAL,
        cloudCustomData: message.cloudCustomData || '',
        needReadReceipt: !!message.needReadReceipt,
      };
      if (message.isSupportExtension) data.isSupportExtension = true;
      if (options.onlineUserOnly) data.onlineUserOnly = true;
      const push = wirePushInfo(options.offlinePushInfo);
      if (push) data.offlinePushInfo = push;
      const control = options.messageControlInfo;
      if (control) {
        data.messageControlInfo = {
          excludedFromUnreadCount: !!control.excludedFromUnreadCount,
          excludedFromLastMessage: !!control.excludedFromLastMessage,
        };
      }
      message.status = 'unSend';
      return this._request('sendMessage', data, {timeout: SEND_TIMEOUT_MS}).then(
        (stored) => {
          this._keepSentLists(data.elements, stored);
          Object.assign(message, normalizeMessage(stored), {status: 'success'});
          this._rememberSent(message.ID);
          return {code: 0, data: {message}};
        },
        (err) => {
          message.status = 'fail';
          err.data = {message};
          throw err;
        },
      );
    }

    /** A merged list the server stored apart (the reply has its downloadKey): the list
     * sent is that key's list, so showing it needs no download. */
    _keepSentLists(sent, stored) {
      const got = stored && Array.isArray(stored.elements) ? stored.elements : [];
      sent.forEach((e, i) => {
        const back = got[i];
        if (e.type === TYPES.MSG_MERGER && Array.isArray(e.payload.messageList) && back
            && back.type === TYPES.MSG_MERGER && back.payload && typeof back.payload.downloadKey === 'string'
            && back.payload.downloadKey && !this._mergerLists.has(back.payload.downloadKey)) {
          this._keepMergerList(back.payload.downloadKey, Promise.resolve(e.payload.messageList));
        }
      });
    }

    _rememberSent(id) {
      if (!id) return;
      this._sentIDs.add(id);
      if (this._sentIDs.size > 2000) {  // the oldest go first (a Set keeps insertion order)
        this._sentIDs.delete(this._sentIDs.values().next().value);
      }
    }

    resendMessage(message, options) {
      return this.sendMessage(message, options);
    }

    /** A page of history, newest first by page, each page in chronological order. */
    getMessageList(options = {}) {
      const data = {conversationID: options.conversationID};
      if (options.nextReqMessageID) data.nextReqMessageID = options.nextReqMessageID;
      if (options.count !== undefined) data.count = options.count;
      return this._request('getMessageList', data).then((page) => ({
        code: 0,
        data: {
          messageList: (page.messageList || []).map(normalizeMessage),
          nextReqMessageID: page.nextReqMessageID || '',
          isCompleted: !!page.isCompleted,
        },
      }));
    }

    // --- changes to stored messages (server: messaging/message_ws.py) ----------------

    /**
     * Recall a message I sent (within 2 minutes). Resolves to {message} with isRevoked
     * true and no content; both users' devices get MESSAGE_REVOKED. Rejects with 20016
     * (too late), 20022 (not mine) or 20023 (already recalled).
     */
    revokeMessage(message) {
      return this._request('revokeMessage', {messageID: message && message.ID}).then((m) => {
        const out = this._applyMessageChange(message, m);
        return {code: 0, data: {message: out}};
      }, (err) => {
        if (err.code !== 20023 || !message) throw err;  // already recalled: done
        const out = this._applyMessageChange(message, Object.assign({}, message,
          {isRevoked: true, elements: [], cloudCustomData: ''}));
        return {code: 0, data: {message: out}};
      });
    }

    /**
     * Change a message I sent: edit its `payload` (first element), `elements` or
     * `cloudCustomData`, then call this. Resolves to {message}; both users' devices get
     * MESSAGE_MODIFIED. Rejects with 20028 when another device changed it first (load
     * it again and retry).
     */
    modifyMessage(message) {
      if (!message || !message.ID) return Promise.reject(chatError(910003, 'a message is required'));
      let elements = Array.isArray(message.elements) ? message.elements.slice() : [];
      if (elements.length && message.payload) {
        elements[0] = Object.assign({}, elements[0], {payload: message.payload});
      }
      const data = {messageID: message.ID, elements,
        version: typeof message.version === 'string' ? message.version : ''};
      if (typeof message.cloudCustomData === 'string') data.cloudCustomData = message.cloudCustomData;
      return this._request('modifyMessage', data).then((m) => {
        const out = this._applyMessageChange(message, m);
        return {code: 0, data: {message: out}};
      });
    }

    /** The versions this SDK last saw of a message's extension keys. */
    _extensionSeqsOf(messageID) {
      let seqs = this._extensionSeqs.get(messageID);
      if (!seqs) {
        seqs = new Map();
        this._extensionSeqs.set(messageID, seqs);
      }
      return seqs;
    }

    _noteExtensions(messageID, results) {
      const known = this._extensionSeqsOf(messageID);
      (results || []).forEach((r) => {
        if (r && typeof r.key === 'string' && Number.isInteger(r.seq)) {
          if (r.seq > 0) known.set(r.key, r.seq); else known.delete(r.key);
        }
      });
    }

    /**
     * Set extensions of a message sent with isSupportExtension (1 to 20 {key, value}).
     * Resolves to {extensions: [{code, key, value, seq}]}: code 0, or 23001 when the key
     * was changed first elsewhere (value and seq are what is stored; call again to
     * overwrite). Rejects with 23002 (no extensions on this message), 23004 (not found).
     */
    setMessageExtensions(message, extensions) {
      const messageID = message && message.ID;
      const seqs = this._extensionSeqsOf(messageID);
      const list = (Array.isArray(extensions) ? extensions : []).map((e) => ({
        key: e && e.key, value: e && e.value, seq: seqs.get(e && e.key) || 0}));
      return this._request('setMessageExtensions', {messageID, extensions: list}).then((reply) => {
        this._noteExtensions(messageID, reply.extensions);
        return {code: 0, data: {extensions: reply.extensions || []}};
      });
    }

    /** A message's extensions, every page: {extensions: [{key, value, seq}]}; only the
     * keys in `keyList` when it is given. */
    getMessageExtensions(message, keyList) {
      const messageID = message && message.ID;
      const all = [];
      const page = (startSeq) => this._request('getMessageExtensions', {messageID, startSeq})
        .then((reply) => {
          const got = reply.extensions || [];
          all.push(...got);
          if (!reply.isCompleted && got.length) return page(got[got.length - 1].seq + 1);
          this._extensionSeqs.set(messageID, new Map(all.map((e) => [e.key, e.seq])));
          const wanted = Array.isArray(keyList) ? new Set(keyList) : null;
          return {code: 0, data: {extensions: wanted ? all.filter((e) => wanted.has(e.key)) : all}};
        });
      return page(0);
    }

    /** Delete the keys in `keyList` (each at the version last seen: 23001 per key when
     * changed first elsewhere), or every key when no keyList is given. */
    deleteMessageExtensions(message, keyList) {
      const messageID = message && message.ID;
      const data = {messageID};
      if (Array.isArray(keyList)) {
        const seqs = this._extensionSeqsOf(messageID);
        data.extensions = keyList.map((key) => ({key, seq: seqs.get(key) || 0}));
      }
      return this._request('deleteMessageExtensions', data).then((reply) => {
        const results = reply.extensions || [];
        const seqs = this._extensionSeqsOf(messageID);
        results.forEach((r) => {
          if (r.code === 0) seqs.delete(r.key); else seqs.set(r.key, r.seq);
        });
        return {code: 0, data: {extensions: results}};
      });
    }

    /** React to a stored message with `reactionID` (e.g. an emoji, 1 to 100 bytes). */
    addMessageReaction(message, reactionID) {
      return this._request('addMessageReaction', {messageID: message && message.ID, reactionID})
        .then(() => ({code: 0, data: {}}));
    }

    /** Take back my reaction `reactionID` to a message. */
    removeMessageReaction(message, reactionID) {
      return this._request('removeMessageReaction', {messageID: message && message.ID, reactionID})
        .then(() => ({code: 0, data: {}}));
    }

    /** The reactions of messages (Message objects or IDs), asked 20 at a time: each
     * reaction with its count, its first maxUserCountPerReaction (0 to 10, default 10)
     * people and reactedByMyself. */
    getMessageReactions(options) {
      const opts = options || {};
      const ids = (Array.isArray(opts.messageList) ? opts.messageList : [])
        .map((m) => (typeof m === 'string' ? m : m && m.ID));
      const data = {};
      if (opts.maxUserCountPerReaction !== undefined) {
        data.maxUserCountPerReaction = opts.maxUserCountPerReaction;
      }
      const asks = [];
      for (let i = 0; i < ids.length; i += 20) {
        asks.push(this._request('getMessageReactions',
          Object.assign({messageIDList: ids.slice(i, i + 20)}, data)));
      }
      return Promise.all(asks).then((replies) => ({code: 0, data: {
        resultList: [].concat(...replies.map((r) => r.resultList || []))}}));
    }

    /** The people of one reaction, `count` (1 to 100, default 20) from `nextSeq` (0
     * first): {userList, nextSeq, isCompleted}. */
    getAllUserListOfMessageReaction(options) {
      const opts = options || {};
      const data = {messageID: opts.message && opts.message.ID, reactionID: opts.reactionID,
                    nextSeq: opts.nextSeq || 0};
      if (opts.count !== undefined) data.count = opts.count;
      return this._request('getAllUserListOfMessageReaction', data)
        .then((reply) => ({code: 0, data: reply}));
    }

    /** Delete messages (of one conversation) from my own history; the peer keeps them. */
    deleteMessage(messageList) {
      const messageIDList = (messageList || []).map((m) => (typeof m === 'string' ? m : m.ID));
      return this._request('deleteMessage', {messageIDList})
        .then((reply) => ({code: 0, data: {messageList: messageList || [],
          messageIDList: reply.messageIDList || messageIDList}}));
    }

    /** Read receipts for messages I received: the sender gets MESSAGE_READ_BY_PEER. */
    sendMessageReadReceipt(messageList) {
      const messageIDList = (messageList || []).map((m) => (typeof m === 'string' ? m : m.ID));
      return this._request('sendMessageReadReceipt', {messageIDList})
        .then(() => ({code: 0, data: {}}));
    }

    /** Fold a changed message (reply or event) into the cache and the caller's object. */
    _applyMessageChange(original, changed) {
      const out = normalizeMessage(changed);
      if (original && typeof original === 'object') Object.assign(original, out);
      const conv = this._conversations.get(out.conversationID);
      if (conv && conv.lastMessage && conv.lastMessage.ID === out.ID) {
        this._conversations.set(conv.conversationID, Object.assign({}, conv, {lastMessage: out}));
        if (this._ready) this._emitConversations();
      }
      return out;
    }

    // --- conversations and unread ---------------------------------------------------

    /**
     * Remove conversations from my list (a new message brings one back):
     * deleteConversation('C2Cbob') or ({conversationIDList, clearHistoryMessage?=true}).
     * With clearHistoryMessage my history of it is cleared too.
     */
    deleteConversation(options) {
      const data = typeof options === 'string' ? {conversationIDList: [options]}
        : pick(options || {}, ['conversationIDList', 'clearHistoryMessage']);
      return this._request('deleteConversation', data).then((reply) => {
        const ids = reply.conversationIDList || data.conversationIDList || [];
        for (const id of ids) this._forgetConversation(id);
        if (this._ready) this._emitConversations();
        return {code: 0, data: {conversationIDList: ids}};
      });
    }

    /** Clear my history of a conversation; it stays in my list, empty. */
    clearHistoryMessage(conversationID) {
      return this._request('clearHistoryMessage', {conversationID}).then(() => {
        const conv = this._conversations.get(conversationID);
        if (conv) {
          this._totalUnread = Math.max(0, this._totalUnread - (conv.unreadCount || 0));
          this._conversations.set(conversationID, Object.assign({}, conv,
            {lastMessage: null, unreadCount: 0}));
          if (this._ready) this._emitConversations();
        }
        return {code: 0, data: {}};
      });
    }

    /** Pin or unpin: {conversationID, isPinned}. Pinned ones come first (50 at most). */
    pinConversation(options = {}) {
      const data = pick(options, ['conversationID', 'isPinned']);
      return this._request('pinConversation', data).then(() => {
        const conv = this._conversations.get(data.conversationID);
        if (conv) {
          this._conversations.set(conv.conversationID, Object.assign({}, conv,
            {isPinned: !!data.isPinned}));
          if (this._ready) this._emitConversations();
        }
        return {code: 0, data: {conversationID: data.conversationID}};
      });
    }

    /** Receive option for peers: {userIDList (1-30), messageRemindType: 'AcceptAndNotify' |
     *  'AcceptNotNotify' (no offline push) | 'Discard' (not delivered live, no push)}.
     *  The conversations follow in CONVERSATION_LIST_UPDATED (messageRemindType). */
    setMessageRemindType(options = {}) {
      return this._request('setMessageRemindType',
        pick(options, ['userIDList', 'messageRemindType'])).then(() => ({code: 0, data: {}}));
    }

    /** Global receive option: {opt: 0 | 2 ('AcceptNotNotify': no offline push),
     *  startHour, startMinute, startSecond (UTC), duration (seconds)}: a daily quiet window. */
    setAllReceiveMessageOpt(options = {}) {
      return this._request('setAllReceiveMessageOpt', pick(options,
        ['opt', 'startHour', 'startMinute', 'startSecond', 'duration']))
        .then((data) => ({code: 0, data}));
    }

    getAllReceiveMessageOpt() {
      return this._request('getAllReceiveMessageOpt', {}).then((data) => ({code: 0, data}));
    }

    /** Keep a draft on a conversation, for my other devices: {conversationID, draftText}. */
    setConversationDraft(options = {}) {
      return this._request('setConversationDraft', pick(options, ['conversationID', 'draftText']))
        .then(() => ({code: 0, data: {}}));
    }

    _forgetConversation(id) {
      const conv = this._conversations.get(id);
      if (conv) this._totalUnread = Math.max(0, this._totalUnread - (conv.unreadCount || 0));
      this._conversations.delete(id);
      this._order.delete(id);
    }

    /** The conversation list from the server (an array of IDs filters it). */
    getConversationList(options) {
      return this._fetchConversations().then(() => {
        let list = this._sortedConversations();
        if (Array.isArray(options)) list = list.filter((c) => options.includes(c.conversationID));
        return {code: 0, data: {conversationList: list}};
      });
    }

    /** Everything in the conversation up to now is read, on every device of this user. */
    setMessageRead(options = {}) {
      const conversationID = options.conversationID;
      return this._request('setMessageRead', {conversationID}).then(() => {
        // The server's events confirm this; updating now keeps the badges in step.
        const conv = this._conversations.get(conversationID);
        if (conv && conv.unreadCount > 0) {
          this._totalUnread = Math.max(0, this._totalUnread - conv.unreadCount);
          this._conversations.set(conversationID, Object.assign({}, conv, {unreadCount: 0}));
          if (this._ready) {
            this._emitConversations();
            this._emit(EVENT.TOTAL_UNREAD_MESSAGE_COUNT_UPDATED, this._totalUnread);
          }
        }
        return {code: 0, data: {}};
      });
    }

    /** The total unread count as last reported by the server (a number, as in Tencent's SDK). */
    getTotalUnreadMessageCount() {
      return this._totalUnread;
    }

    // --- profiles -------------------------------------------------------------------

    /** My Profile. */
    getMyProfile() {
      return this._request('getMyProfile', {}).then((data) => ({code: 0, data}));
    }

    /**
     * Change my profile: {nick?, avatar?, gender?, selfSignature?, allowType?, birthday?,
     * location?, language?}. Resolves to the updated Profile; every device of mine gets
     * PROFILE_UPDATED. Rejects with 40601 (too long) or 40605 (a value not allowed).
     */
    updateMyProfile(options = {}) {
      const data = pick(options, ['nick', 'avatar', 'gender', 'selfSignature', 'allowType',
        'birthday', 'location', 'language', 'messageSettings', 'profileCustomField']);
      return this._request('updateMyProfile', data).then((profile) => ({code: 0, data: profile}));
    }

    /** Profiles of other users: {userIDList} -> [Profile] (unknown UserIDs are left out). */
    getUserProfile(options = {}) {
      return this._request('getUserProfile', {userIDList: options.userIDList || []})
        .then((reply) => ({code: 0, data: arrayIn(reply, 'profileList', 'userProfileList')}));
    }

    /**
     * Parley's: find users whose UserID starts with `keyword` or whose nick contains
     * it: {keyword, count? (1-50, 20 by default)} -> {userList: [Profile]}. (Tencent's
     * searchCloudUsers is a paid cloud search with another shape.)
     */
    searchUsers(options = {}) {
      return this._request('searchUsers', pick(options, ['keyword', 'count']))
        .then((reply) => ({code: 0, data: {userList: arrayIn(reply, 'userList')}}));
    }

    // --- online status --------------------------------------------------------------

    /**
     * Online status of users: {userIDList} (at most 500) -> {successUserList:
     * [{userID, statusType, customStatus}], failureUserList}. statusType is
     * TYPES.USER_STATUS_ONLINE (1), _OFFLINE (2) or _UNLOGINED (3, never logged in).
     */
    getUserStatus(options = {}) {
      return this._request('getUserStatus', {userIDList: options.userIDList || []})
        .then((data) => ({code: 0, data}));
    }

    /** Get USER_STATUS_UPDATED when these users come online, go offline or set a custom
     * status: {userIDList} (at most 200 per connection) -> {failureUserList}. */
    subscribeUserStatus(options = {}) {
      return this._request('subscribeUserStatus', {userIDList: options.userIDList || []})
        .then((data) => ({code: 0, data}));
    }

    /** Stop: {userIDList?} (none: every subscription of this connection). */
    unsubscribeUserStatus(options = {}) {
      return this._request('unsubscribeUserStatus', pick(options, ['userIDList']))
        .then((data) => ({code: 0, data}));
    }

    /** Parley's: tell `to` that I am typing (or stopped): {to, typing?: true}. The peer's
     * online devices get TYPING {from, conversationID, typing}; nothing is stored. */
    sendTyping(options = {}) {
      return this._request('typing', pick(options, ['to', 'typing']))
        .then(() => ({code: 0, data: {}}));
    }

    /** My custom status text: {customStatus} (at most 100 bytes; "" clears it). */
    setSelfStatus(options = {}) {
      return this._request('setSelfStatus', pick(options, ['customStatus']))
        .then((data) => ({code: 0, data}));
    }

    // --- friends --------------------------------------------------------------------

    /** My friends: [Friend] ({userID, remark, groupList, source, wording, profile, ...}). */
    getFriendList() {
      return this._fetchList('friends').then((list) => ({code: 0, data: list.slice()}));
    }

    /**
     * Ask `to` to be my friend: {to, source, wording?, type?, remark?, groupName?}.
     * Resolves to {userID, code, message}: code 0 when added at once (the peer allows
     * anyone), 30539 when the request waits for the peer's answer. Rejects on a refusal
     * (30516 the peer takes no requests, 30515 the peer is in my blocklist, 30525 I am
     * in the peer's).
     */
    addFriend(options = {}) {
      const data = pick(options, ['to', 'source', 'wording', 'type', 'remark', 'groupName']);
      return this._request('addFriend', data).then(
        (reply) => {
          return {code: 0, data: Object.assign({userID: data.to, code: 0, message: ''},
            reply && typeof reply === 'object' && !Array.isArray(reply) ? reply : {})};
        },
        (err) => {
          if (err.code !== 30539) throw err;
          return {code: 0, data: {userID: data.to, code: 30539, message: err.message}};
        },
      );
    }

    /** {userIDList, type?: Delete_Type_Both (default) or _Single} -> {successUserIDList, failureUserIDList}. */
    deleteFriend(options = {}) {
      return this._change('deleteFriend', pick(options, ['userIDList', 'type']));
    }

    /** {userIDList, type} -> {successUserIDList: [{userID, code, relation}], failureUserIDList}. */
    checkFriend(options = {}) {
      return this._request('checkFriend', pick(options, ['userIDList', 'type']))
        .then((data) => ({code: 0, data}));
    }

    /** {userIDList} -> {friendList, failureUserIDList}. */
    getFriendProfile(options = {}) {
      return this._request('getFriendProfile', pick(options, ['userIDList']))
        .then((data) => ({code: 0, data}));
    }

    /** {userID, remark?, friendCustomField?} -> the Friend. */
    updateFriend(options = {}) {
      return this._change('updateFriend', pick(options, ['userID', 'remark', 'friendCustomField']));
    }

    // --- friend requests ------------------------------------------------------------

    /** {friendApplicationList: [FriendApplication], unreadCount}. */
    getFriendApplicationList() {
      return this._fetchList('applications')
        .then((value) => ({code: 0, data: LISTS.applications.copy(value)}));
    }

    /** {userID, remark?, type: Response_Action_Agree or _AgreeAndAdd}. */
    acceptFriendApplication(options = {}) {
      return this._change('acceptFriendApplication', pick(options, ['userID', 'remark', 'type']));
    }

    /** {userID}. */
    refuseFriendApplication(options = {}) {
      return this._change('refuseFriendApplication', pick(options, ['userID']));
    }

    /** {userID, type: Pendency_Type_ComeIn (sent to me) or _SendOut (sent by me)}. */
    deleteFriendApplication(options = {}) {
      return this._change('deleteFriendApplication', pick(options, ['userID', 'type']));
    }

    /** Every request sent to me counts as seen: unreadCount becomes 0 on every device. */
    setFriendApplicationRead() {
      return this._request('setFriendApplicationRead', {}).then((data) => {
        const apps = this._lists.applications;
        if (apps.value.unreadCount !== 0) {
          apps.value = Object.assign({}, apps.value, {unreadCount: 0});
          if (this._ready) this._emitList('applications');
        }
        return {code: 0, data: data || {}};
      });
    }

    // --- friend groups (lists) ------------------------------------------------------

    /** [FriendGroup] ({name, userIDList, count}). */
    getFriendGroupList() {
      return this._fetchList('groups').then((list) => ({code: 0, data: list.slice()}));
    }

    /** {name, userIDList?} -> {friendGroup, failureUserIDList}. */
    createFriendGroup(options = {}) {
      return this._change('createFriendGroup', pick(options, ['name', 'userIDList']));
    }

    /** {name}. */
    deleteFriendGroup(options = {}) {
      return this._change('deleteFriendGroup', pick(options, ['name']));
    }

    /** {oldName, newName} -> {friendGroup}. */
    renameFriendGroup(options = {}) {
      return this._change('renameFriendGroup', pick(options, ['oldName', 'newName']));
    }

    /** {name, userIDList} -> {friendGroup, failureUserIDList}. */
    addToFriendGroup(options = {}) {
      return this._change('addToFriendGroup', pick(options, ['name', 'userIDList']));
    }

    /** {name, userIDList} -> {friendGroup, failureUserIDList}. */
    removeFromFriendGroup(options = {}) {
      return this._change('removeFromFriendGroup', pick(options, ['name', 'userIDList']));
    }

    // --- blocklist ------------------------------------------------------------------

    /** The UserIDs I have blocked: [userID]. */
    getBlacklist() {
      return this._fetchList('blacklist').then((list) => ({code: 0, data: list.slice()}));
    }

    /** {userIDList} -> the UserIDs now blocked. Blocking ends friendship both ways. */
    addToBlacklist(options = {}) {
      return this._change('addToBlacklist', pick(options, ['userIDList']));
    }

    /** {userIDList} -> the UserIDs unblocked. */
    removeFromBlacklist(options = {}) {
      return this._change('removeFromBlacklist', pick(options, ['userIDList']));
    }

    // --- the relationship lists -----------------------------------------------------

    /**
     * An op that changes relationship lists. The server tells every device of each
     * user concerned, this one too, with the lists' events; the SDK's lists follow them.
     */
    _change(op, data) {
      return this._request(op, data).then((reply) => ({code: 0, data: reply}));
    }

    _resetLists() {
      for (const name of Object.keys(LISTS)) {
        this._lists[name] = {value: LISTS[name].empty(), gen: 0, applied: 0, changes: 0,
                             reloading: false, again: false};
      }
    }

    /** Load one list from the server into the cache; resolves to what this load got. */
    _fetchList(name) {
      const list = this._lists[name];
      const gen = ++list.gen;
      const changes = list.changes;
      return LISTS[name].load(this).then((value) => {
        // Replies come in the order the requests went, so an older load never wins;
        // nor does a load that an event changed the list during (its read may predate
        // the change): that event marked the list for a reload.
        if (gen > list.applied && changes === list.changes) {
          list.applied = gen;
          list.value = value;
        }
        return value;
      });
    }

    /** Every page of getFriendList, in the order the friends were added. */
    async _loadFriendPages() {
      const friends = [];
      let startIndex = 0;
      for (;;) {
        const page = await this._request('getFriendList', {startIndex, count: FRIEND_PAGE});
        const items = arrayIn(page, 'friendList');
        friends.push(...items);
        // A server that does not page answers with the whole list.
        if (Array.isArray(page) || page.isCompleted !== false || !items.length) return friends;
        startIndex = Number.isInteger(page.nextStartIndex)
          ? page.nextStartIndex : startIndex + items.length;
      }
    }

    /** A wire event about a list: apply it, or load the list again when it cannot be. */
    _onListEvent(name, data) {
      const list = this._lists[name];
      list.changes += 1;
      if (!this._ready || list.reloading) {
        // Loaded (again) once ready / once the load in flight is answered.
        this._listsChanged(name);
        return;
      }
      const next = LISTS[name].apply(list.value, data);
      if (next === null) {
        this._listsChanged(name);
        return;
      }
      list.value = next;
      this._emitList(name);
    }

    _emitList(name) {
      this._emit(LISTS[name].event, LISTS[name].copy(this._lists[name].value));
    }

    /** These lists changed on the server: reload them shortly, then hand them out. */
    _listsChanged(...names) {
      for (const name of names) this._dirtyLists.add(name);
      // Before SDK_READY every list is loaded anyway (see _onReady).
      if (!this._ready || this._listTimer !== null) return;
      this._listTimer = setTimeout(() => this._reloadLists(), LIST_RELOAD_DELAY_MS);
    }

    _reloadLists() {
      this._listTimer = null;
      if (!this._ready) return;
      const names = Array.from(this._dirtyLists);
      this._dirtyLists.clear();
      for (const name of names) {
        const list = this._lists[name];
        if (list.reloading) {
          list.again = true;  // a change after the load in flight was answered
          continue;
        }
        list.reloading = true;
        this._fetchList(name).then(
          () => this._emitList(name),
          (err) => console.warn(`ParleyChat: reloading the ${name} list failed`, err),
        ).finally(() => {
          list.reloading = false;
          if (list.again) {
            list.again = false;
            this._listsChanged(name);
          }
        });
      }
    }

    /** Fold changed Profiles into the friends, requests and conversations they appear in. */
    _mergeProfiles(profiles) {
      const byID = new Map();
      for (const p of Array.isArray(profiles) ? profiles : [profiles]) {
        if (p && typeof p.userID === 'string') byID.set(p.userID, p);
      }
      if (!byID.size) return;
      const friends = this._lists.friends;
      let friendsChanged = false;
      friends.value = friends.value.map((f) => {
        const p = f && byID.get(f.userID);
        if (!p) return f;
        friendsChanged = true;
        return Object.assign({}, f, {profile: Object.assign({}, f.profile || {}, p)});
      });
      const apps = this._lists.applications;
      let appsChanged = false;
      const appList = apps.value.friendApplicationList.map((a) => {
        const p = a && byID.get(a.userID);
        if (!p) return a;
        appsChanged = true;
        return Object.assign({}, a, pick(p, ['nick', 'avatar']));
      });
      if (appsChanged) apps.value = Object.assign({}, apps.value, {friendApplicationList: appList});
      let convsChanged = false;
      for (const [userID, p] of byID) {
        const conv = this._conversations.get(`C2C${userID}`);
        if (!conv) continue;
        convsChanged = true;
        this._conversations.set(conv.conversationID, Object.assign({}, conv, {
          userProfile: Object.assign({}, conv.userProfile || {}, pick(p, ['userID', 'nick', 'avatar'])),
        }));
      }
      if (!this._ready) return;
      if (friendsChanged) this._emitList('friends');
      if (appsChanged) this._emitList('applications');
      if (convsChanged) this._emitConversations();
    }

    _fetchConversations() {
      return this._request('getConversationList', {}).then((data) => {
        const list = data.conversationList || [];
        this._conversations.clear();
        this._order.clear();
        this._touch = 0;
        for (let i = list.length - 1; i >= 0; i--) this._mergeConversation(list[i]);
      });
    }

    _fetchTotalUnread() {
      return this._request('getTotalUnreadMessageCount', {}).then((n) => {
        if (typeof n === 'number') this._totalUnread = n;
      });
    }

    /** Fold one changed conversation into the cache. */
    _mergeConversation(conv) {
      if (!conv || typeof conv.conversationID !== 'string') return;
      const id = conv.conversationID;
      if (conv.isDeleted) {  // deleted on another device of mine
        this._conversations.delete(id);
        this._order.delete(id);
        return;
      }
      const old = this._conversations.get(id);
      const merged = Object.assign({}, old || {}, conv);
      const oldLast = old && old.lastMessage;
      // No lastMessage key means "unchanged" (e.g. excludedFromLastMessage); null means
      // none now (a cleared history); a replayed conversation may carry an
      // older one than we already have.
      const cleared = 'lastMessage' in conv && conv.lastMessage === null;
      if (cleared) {
        merged.lastMessage = null;
      } else if (oldLast && (!conv.lastMessage
          || (conv.lastMessage.seq || 0) < (oldLast.seq || 0))) {
        merged.lastMessage = oldLast;
      } else if (merged.lastMessage) {
        merged.lastMessage = normalizeMessage(merged.lastMessage);
      }
      this._conversations.set(id, merged);
      if (!old || (merged.lastMessage && (!oldLast || oldLast.ID !== merged.lastMessage.ID))) {
        this._order.set(id, ++this._touch);
      }
    }

    _sortedConversations() {
      const order = this._order;
      return Array.from(this._conversations.values()).sort((a, b) =>
        (b.isPinned ? 1 : 0) - (a.isPinned ? 1 : 0)
        || lastTime(b) - lastTime(a)
        || (order.get(b.conversationID) || 0) - (order.get(a.conversationID) || 0));
    }

    _emitConversations() {
      this._emit(EVENT.CONVERSATION_LIST_UPDATED, this._sortedConversations());
    }

    // --- the socket -----------------------------------------------------------------

    _setNetState(state, extra) {
      if (state === this._netState && !extra) return;
      this._netState = state;
      this._emit(EVENT.NET_STATE_CHANGE, Object.assign({state}, extra || {}));
    }

    _connect() {
      clearTimeout(this._timers.reconnect);
      this._timers.reconnect = null;
      if (this._stopped) return;
      this._setNetState(TYPES.NET_STATE_CONNECTING);
      let ws;
      try {
        ws = new WebSocket(this._url);
      } catch (err) {
        console.error('ParleyChat: cannot open', this._url, err);
        this._scheduleReconnect();
        return;
      }
      this._ws = ws;
      ws.onopen = () => {
        if (ws === this._ws) this._sendLogin();
      };
      ws.onmessage = (ev) => {
        if (ws === this._ws) this._onFrame(ev.data);
      };
      ws.onclose = (ev) => {
        if (ws === this._ws) this._onClose(ev.code);
      };
      ws.onerror = () => {};  // onclose follows
    }

    _sendLogin() {
      const o = this._loginOptions;
      const data = {deviceID: o.deviceID, instanceID: o.instanceID, platform: o.platform};
      if (o.userSig) {
        data.userID = o.userID;
        data.userSig = o.userSig;
      }
      if (this._seq > 0) data.since = this._seq;
      const ws = this._ws;
      this._request('login', data, {direct: true, timeout: LOGIN_TIMEOUT_MS}).then(
        (reply) => {
          if (ws !== this._ws) return;
          this._onLoggedIn(reply);
        },
        (err) => {
          if (ws !== this._ws) return;
          if (err.code === 910201 || err.code === 910202 || err.code === 20005) {
            this._drop(ws);  // a network or server hiccup: try again
            return;
          }
          // The server refused us (UserSig, session gone): retrying will not help.
          const waiter = this._loginWaiter;
          this._loginWaiter = null;
          this._loginOptions = null;
          this._shutdown(err);
          this._emit(EVENT.ERROR, {code: err.code, message: err.message});
          if (waiter) waiter.reject(err);
        },
      );
    }

    _onLoggedIn(reply) {
      const userID = reply && reply.userID;
      if (userID && userID !== this._userID) {
        // The seq we sent (if any) was for another user: start over from the server's.
        if (this._userID) this._resetPending = true;
        this._userID = userID;
        this._seq = this._loadSeq();
        this._ackedSeq = this._seq;
      }
      this._loggedIn = true;
      this._replaying = true;
      this._attempt = 0;
      this._setNetState(TYPES.NET_STATE_CONNECTED);
      this._startPing();
      for (const entry of this._pending.values()) {
        if (!entry.sent && !entry.direct) this._sendEntry(entry);
      }
      const waiter = this._loginWaiter;
      this._loginWaiter = null;
      if (waiter) waiter.resolve({code: 0, data: {repeatLogin: false, userID: this._userID}});
    }

    _onFrame(text) {
      let frame;
      try {
        frame = JSON.parse(text);
      } catch (err) {
        console.error('ParleyChat: a frame that is not JSON', text);
        return;
      }
      if (!frame || typeof frame !== 'object') return;
      if (frame.event) {
        this._onEvent(frame);
      } else if (frame.id !== undefined && frame.id !== null) {
        this._onReply(frame);
      }
    }

    _onReply(frame) {
      const entry = this._pending.get(String(frame.id));
      if (!entry) return;
      this._pending.delete(entry.id);
      clearTimeout(entry.timer);
      if (frame.ok) {
        entry.resolve(frame.data === undefined ? {} : frame.data);
      } else {
        entry.reject(chatError(frame.code, frame.message));
      }
    }

    _onEvent(frame) {
      const name = frame.event;
      const data = frame.data;
      if (Number.isInteger(frame.seq) && !this._admit(frame)) return;
      switch (name) {
        case 'SDK_READY':
          this._onReady(data);
          return;  // its seq is the position reached, handled there
        case 'SYNC_RESET':
          if (!this._replaying) {
            // A `sync` found our seq gone from the server's cache: log in again, and
            // the login's reset (the lists reloaded at SDK_READY) takes over.
            this._drop(this._ws);
            return;
          }
          this._resetPending = true;
          break;
        case 'KICKED_OUT':
          this._kickedOut((data && data.reason) || TYPES.KICKED_OUT_MULT_DEVICE);
          return;
        case 'ERROR':
          this._emit(EVENT.ERROR, data || {});
          break;
        case 'MESSAGE_RECEIVED': {
          const fresh = (Array.isArray(data) ? data : [data])
            .filter((m) => !(m && this._sentIDs.has(m.ID))).map(normalizeMessage);
          if (fresh.length) this._emit(EVENT.MESSAGE_RECEIVED, fresh);
          break;
        }
        case 'MESSAGE_DELETED': {
          // Deleted from my history: a cached lastMessage among them is gone, and the
          // CONVERSATION_LIST_UPDATED that follows carries an older one, which the
          // merge would otherwise take for a stale replay and pass over.
          const conv = data && this._conversations.get(data.conversationID);
          const ids = data && Array.isArray(data.messageIDList) ? data.messageIDList : [];
          if (conv && conv.lastMessage && ids.includes(conv.lastMessage.ID)) {
            this._conversations.set(conv.conversationID,
              Object.assign({}, conv, {lastMessage: null}));
          }
          this._emit(EVENT.MESSAGE_DELETED, data);
          break;
        }
        case 'CONVERSATION_LIST_UPDATED':
          for (const conv of Array.isArray(data) ? data : [data]) this._mergeConversation(conv);
          // During a replay the list is reloaded at SDK_READY anyway.
          if (this._ready) this._emitConversations();
          break;
        case 'TOTAL_UNREAD_MESSAGE_COUNT_UPDATED':
          if (typeof data === 'number') this._totalUnread = data;
          if (this._ready) this._emit(EVENT.TOTAL_UNREAD_MESSAGE_COUNT_UPDATED, this._totalUnread);
          break;
        case 'PROFILE_UPDATED':
          this._mergeProfiles(data);
          this._emit(EVENT.PROFILE_UPDATED, Array.isArray(data) ? data : [data]);
          break;
        default:
          if (LIST_EVENTS[name]) {
            this._onListEvent(LIST_EVENTS[name], data);
          } else if (name === 'MESSAGE_EXTENSIONS_UPDATED' && data) {
            this._noteExtensions(data.messageID, data.extensions);
            this._emit(EVENT.MESSAGE_EXTENSIONS_UPDATED, data);
          } else if (name === 'MESSAGE_EXTENSIONS_DELETED' && data) {
            const seqs = this._extensionSeqs.get(data.messageID);
            if (seqs) (data.keyList || []).forEach((key) => seqs.delete(key));
            this._emit(EVENT.MESSAGE_EXTENSIONS_DELETED, data);
          } else if (PASS_THROUGH[name]) {
            const out = MESSAGE_EVENTS.has(name) && Array.isArray(data)
              ? data.map((m) => this._applyMessageChange(null, m)) : data;
            this._emit(PASS_THROUGH[name], out);
          }
      }
      if (Number.isInteger(frame.seq)) this._noteSeq(frame.seq);
    }

    /**
     * Whether an event with a `seq` is handed out: not a repeat, and not after a gap.
     * A `sync`'s reply names the seq its replay reaches; entries it leaves out (expired,
     * beyond a peer's newest 100) are passed over once a later event comes.
     */
    _admit(frame) {
      if (this._syncTarget !== null && frame.seq > this._syncTarget) {
        if (this._syncTarget > this._seq) this._setSeq(this._syncTarget);
        this._syncTarget = null;
      }
      if (frame.seq <= this._seq) return false;
      if (!this._replaying && Number.isInteger(frame.prevSeq) && frame.prevSeq > this._seq) {
        this._requestSync();  // it comes again with what was missed, in order
        return false;
      }
      return true;
    }

    _requestSync() {
      const ws = this._ws;
      if (!ws || !this._loggedIn || this._syncing === ws) return;
      this._syncing = ws;
      this._request('sync', {since: this._seq}, {direct: true}).then(
        (data) => {
          if (ws !== this._ws) return;
          this._syncing = null;
          if (data && Number.isInteger(data.seq) && data.seq > this._seq) {
            this._syncTarget = data.seq;
          }
        },
        () => {
          // No answer: a new login replays the same from our seq.
          if (ws === this._ws) this._drop(ws);
        });
    }

    _onReady(data) {
      const ws = this._ws;
      this._replaying = false;
      // The position the server says we reached; after SYNC_RESET it may be lower than
      // what we had (a server whose log was reset), so it replaces, not raises, ours.
      if (data && Number.isInteger(data.seq)) this._setSeq(data.seq);
      const reset = this._resetPending;
      this._resetPending = false;
      // Every relationship list is loaded afresh, so changes replayed so far are in.
      this._dirtyLists.clear();
      clearTimeout(this._listTimer);
      this._listTimer = null;
      const loaded = new Set();
      const loads = [this._fetchConversations(), this._fetchTotalUnread()]
        .map((p) => p.catch((err) => console.error('ParleyChat: reload after login failed', err)))
        .concat(Object.keys(LISTS).map((name) => this._fetchList(name).then(
          () => loaded.add(name),
          (err) => console.warn(`ParleyChat: loading the ${name} list after login failed`, err))));
      Promise.all(loads).then(() => {
        if (ws !== this._ws) return;
        this._ready = true;
        this._emit(EVENT.SDK_READY, {});
        this._emitConversations();
        this._emit(EVENT.TOTAL_UNREAD_MESSAGE_COUNT_UPDATED, this._totalUnread);
        for (const name of loaded) this._emitList(name);
        if (reset) this._emit(EVENT.SYNC_RESET, {});
        // Lists that changed while they loaded.
        if (this._dirtyLists.size) this._listsChanged();
      });
    }

    _kickedOut(reason) {
      this._loginOptions = null;
      this._shutdown(chatError(910201, `kicked out (${reason})`));
      this._emit(EVENT.KICKED_OUT, {type: reason});
    }

    _onClose(code) {
      this._ws = null;
      const wasReady = this._ready;
      this._loggedIn = false;
      this._ready = false;
      this._replaying = false;
      this._syncing = null;
      this._syncTarget = null;
      this._stopPing();
      for (const entry of Array.from(this._pending.values())) {
        if (entry.direct) {
          this._pending.delete(entry.id);
          clearTimeout(entry.timer);
          entry.reject(chatError(910201, 'the connection closed'));
        } else {
          entry.sent = false;  // sent again after the next login
        }
      }
      if (wasReady) this._emit(EVENT.SDK_NOT_READY, {});
      if (this._stopped) return;
      if (code === CLOSE_KICKED) {
        this._kickedOut(TYPES.KICKED_OUT_MULT_DEVICE);
        return;
      }
      this._scheduleReconnect();
    }

    /** Give up on a socket that stopped answering, and reconnect. */
    _drop(ws) {
      if (ws !== this._ws) return;
      ws.onclose = null;
      try {
        ws.close();
      } catch (err) { /* already closed */ }
      this._onClose(1006);
    }

    _scheduleReconnect() {
      if (this._stopped || this._timers.reconnect !== null) return;
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this._attempt);
      const delay = Math.round(base * (0.5 + Math.random() * 0.5));
      this._attempt += 1;
      this._setNetState(TYPES.NET_STATE_CONNECTING, {retryInMs: delay});
      this._timers.reconnect = setTimeout(() => this._connect(), delay);
    }

    /** Stop for good: no reconnect; every waiting call fails with `err`. */
    _shutdown(err) {
      this._stopped = true;
      clearTimeout(this._timers.reconnect);
      this._timers.reconnect = null;
      clearTimeout(this._timers.ack);
      this._timers.ack = null;
      clearTimeout(this._listTimer);
      this._listTimer = null;
      this._stopPing();
      const ws = this._ws;
      const wasReady = this._ready;
      this._ws = null;
      this._loggedIn = false;
      this._ready = false;
      if (ws) {
        ws.onclose = null;
        try {
          ws.close(1000);
        } catch (e) { /* already closed */ }
      }
      for (const entry of Array.from(this._pending.values())) {
        clearTimeout(entry.timer);
        entry.reject(err);
      }
      this._pending.clear();
      if (this._loginWaiter) {
        this._loginWaiter.reject(err);
        this._loginWaiter = null;
      }
      if (wasReady) this._emit(EVENT.SDK_NOT_READY, {});
      this._setNetState(TYPES.NET_STATE_DISCONNECTED);
    }

    // --- requests -------------------------------------------------------------------

    /**
     * One request. `direct` ones (login, ping) go on the current socket only; the
     * others wait for a logged-in socket and are sent again after a reconnect.
     */
    _request(op, data, {timeout = REQUEST_TIMEOUT_MS, direct = false} = {}) {
      if (!direct && !this._loginOptions) {
        return Promise.reject(chatError(70002, 'call login() first'));
      }
      return new Promise((resolve, reject) => {
        const id = `c-${++this._nextId}`;
        const entry = {id, op, data, resolve, reject, direct, sent: false, timer: null};
        entry.timer = setTimeout(() => {
          if (this._pending.delete(id)) reject(chatError(910202, `${op}: no answer in time`));
        }, timeout);
        this._pending.set(id, entry);
        if (direct || this._loggedIn) this._sendEntry(entry);
      });
    }

    _sendEntry(entry) {
      const ws = this._ws;
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({id: entry.id, op: entry.op, data: entry.data}));
        entry.sent = true;
      } else if (entry.direct) {
        this._pending.delete(entry.id);
        clearTimeout(entry.timer);
        entry.reject(chatError(910201, 'not connected'));
      }
    }

    _startPing() {
      this._stopPing();
      this._timers.ping = setInterval(() => {
        const ws = this._ws;
        if (!ws || !this._loggedIn) return;
        this._sendAck();
        this._request('ping', {}, {direct: true, timeout: PING_TIMEOUT_MS})
          .catch(() => this._drop(ws));
      }, PING_EVERY_MS);
    }

    _stopPing() {
      clearInterval(this._timers.ping);
      this._timers.ping = null;
    }

    // --- the sync position ----------------------------------------------------------

    _seqKey() {
      return this._userID ? `parley:seq:${this._url}:${this._userID}` : '';
    }

    _loadSeq() {
      const key = this._seqKey();
      if (!key) return 0;
      try {
        const n = parseInt(root.localStorage.getItem(key) || '0', 10);
        return Number.isFinite(n) && n > 0 ? n : 0;
      } catch (err) {
        return 0;  // storage disabled: every login starts from now
      }
    }

    _setSeq(seq) {
      this._seq = seq;
      const key = this._seqKey();
      if (key) {
        try {
          root.localStorage.setItem(key, String(seq));
        } catch (err) { /* storage full or disabled */ }
      }
      if (seq !== this._ackedSeq && this._timers.ack === null) {
        this._timers.ack = setTimeout(() => this._sendAck(), ACK_DELAY_MS);
      }
    }

    _noteSeq(seq) {
      if (seq > this._seq) this._setSeq(seq);
    }

    _sendAck() {
      clearTimeout(this._timers.ack);
      this._timers.ack = null;
      const ws = this._ws;
      if (!ws || !this._loggedIn || ws.readyState !== WebSocket.OPEN) return;
      if (this._seq === this._ackedSeq) return;
      // No id: the server does not answer an ack.
      ws.send(JSON.stringify({op: 'ack', data: {seq: this._seq}}));
      this._ackedSeq = this._seq;
    }
  }

  root.ParleyChat = Object.freeze({
    create: (options) => new Chat(options),
    EVENT,
    TYPES,
    VERSION: '0.1.0',
  });
})(typeof window !== 'undefined' ? window : globalThis);
