// Type declarations for static/parley/sdk.js, the Parley JS SDK (a plain script that
// sets the global `ParleyChat`). Names and option shapes follow Tencent Cloud Chat's Web
// SDK (@tencentcloud/chat); what is Parley's own is marked so. Kept true by
// tests/js/sdk_dts.test.js: every method and constant declared here exists in the SDK
// with the value given, and every public one the SDK has is declared here.

declare namespace ParleyChat {
  const VERSION: string;

  /** A client for one user. */
  function create(options?: CreateOptions): Chat;

  interface CreateOptions {
    /** The socket's URL; default ws(s)://<this page's host>/ws/. */
    url?: string;
    /** Parley's: where files are uploaded; default /api/v1/files/ beside `url`. */
    uploadUrl?: string;
    /** Parley's: the CSRF token uploads send; default the page's `csrftoken` cookie,
     * else its `csrfmiddlewaretoken` input. */
    csrfToken?: string;
  }

  const EVENT: {
    readonly SDK_READY: 'sdkStateReady';
    readonly SDK_NOT_READY: 'sdkStateNotReady';
    readonly MESSAGE_RECEIVED: 'onMessageReceived';
    readonly MESSAGE_MODIFIED: 'onMessageModified';
    readonly MESSAGE_REVOKED: 'onMessageRevoked';
    readonly MESSAGE_READ_BY_PEER: 'onMessageReadByPeer';
    readonly MESSAGE_EXTENSIONS_UPDATED: 'onMessageExtensionsUpdated';
    readonly MESSAGE_EXTENSIONS_DELETED: 'onMessageExtensionsDeleted';
    readonly MESSAGE_REACTIONS_UPDATED: 'onMessageReactionsUpdated';
    readonly CONVERSATION_LIST_UPDATED: 'onConversationListUpdated';
    readonly TOTAL_UNREAD_MESSAGE_COUNT_UPDATED: 'onTotalUnreadMessageCountUpdated';
    readonly PROFILE_UPDATED: 'onProfileUpdated';
    readonly USER_STATUS_UPDATED: 'onUserStatusUpdated';
    readonly BLACKLIST_UPDATED: 'blacklistUpdated';
    readonly FRIEND_LIST_UPDATED: 'onFriendListUpdated';
    readonly FRIEND_APPLICATION_LIST_UPDATED: 'onFriendApplicationListUpdated';
    readonly FRIEND_GROUP_LIST_UPDATED: 'onFriendGroupListUpdated';
    readonly KICKED_OUT: 'kickedOut';
    readonly ERROR: 'error';
    readonly NET_STATE_CHANGE: 'netStateChange';
    /** Parley's: the peer is typing (or stopped). */
    readonly TYPING: 'onTyping';
    /** Parley's: messages I deleted on another device of mine. */
    readonly MESSAGE_DELETED: 'onMessageDeleted';
    /** Parley's: the server could not replay everything missed; reload history shown. */
    readonly SYNC_RESET: 'onSyncReset';
  };

  const TYPES: {
    readonly MSG_TEXT: 'TIMTextElem';
    readonly MSG_IMAGE: 'TIMImageElem';
    readonly MSG_AUDIO: 'TIMSoundElem';
    readonly MSG_FILE: 'TIMFileElem';
    readonly MSG_FACE: 'TIMFaceElem';
    readonly MSG_VIDEO: 'TIMVideoFileElem';
    readonly MSG_LOCATION: 'TIMLocationElem';
    readonly MSG_CUSTOM: 'TIMCustomElem';
    readonly MSG_MERGER: 'TIMRelayElem';
    readonly MSG_PRIORITY_HIGH: 'High';
    readonly MSG_PRIORITY_NORMAL: 'Normal';
    readonly MSG_PRIORITY_LOW: 'Low';
    readonly MSG_PRIORITY_LOWEST: 'Lowest';
    readonly CONV_C2C: 'C2C';
    readonly NET_STATE_CONNECTED: 'connected';
    readonly NET_STATE_CONNECTING: 'connecting';
    readonly NET_STATE_DISCONNECTED: 'disconnected';
    readonly KICKED_OUT_MULT_ACCOUNT: 'multipleAccount';
    readonly KICKED_OUT_MULT_DEVICE: 'multipleDevice';
    readonly KICKED_OUT_USERSIG_EXPIRED: 'userSigExpired';
    readonly KICKED_OUT_REST_API: 'REST_API_Kick';
    readonly USER_STATUS_UNKNOWN: 0;
    readonly USER_STATUS_ONLINE: 1;
    readonly USER_STATUS_OFFLINE: 2;
    readonly USER_STATUS_UNLOGINED: 3;
    readonly GENDER_UNKNOWN: 'Gender_Type_Unknown';
    readonly GENDER_FEMALE: 'Gender_Type_Female';
    readonly GENDER_MALE: 'Gender_Type_Male';
    readonly ALLOW_TYPE_ALLOW_ANY: 'AllowType_Type_AllowAny';
    readonly ALLOW_TYPE_NEED_CONFIRM: 'AllowType_Type_NeedConfirm';
    readonly ALLOW_TYPE_DENY_ANY: 'AllowType_Type_DenyAny';
    readonly FORBID_TYPE_NONE: 'AdminForbid_Type_None';
    readonly FORBID_TYPE_SEND_OUT: 'AdminForbid_Type_SendOut';
    readonly SNS_ADD_TYPE_SINGLE: 'Add_Type_Single';
    readonly SNS_ADD_TYPE_BOTH: 'Add_Type_Both';
    readonly SNS_DELETE_TYPE_SINGLE: 'Delete_Type_Single';
    readonly SNS_DELETE_TYPE_BOTH: 'Delete_Type_Both';
    readonly SNS_APPLICATION_TYPE_BOTH: 'Pendency_Type_Both';
    readonly SNS_APPLICATION_SENT_TO_ME: 'Pendency_Type_ComeIn';
    readonly SNS_APPLICATION_SENT_BY_ME: 'Pendency_Type_SendOut';
    readonly SNS_APPLICATION_AGREE: 'Response_Action_Agree';
    readonly SNS_APPLICATION_AGREE_AND_ADD: 'Response_Action_AgreeAndAdd';
    readonly SNS_CHECK_TYPE_BOTH: 'CheckResult_Type_Both';
    readonly SNS_CHECK_TYPE_SINGLE: 'CheckResult_Type_Single';
    readonly SNS_TYPE_NO_RELATION: 'CheckResult_Type_NoRelation';
    readonly SNS_TYPE_A_WITH_B: 'CheckResult_Type_AWithB';
    readonly SNS_TYPE_B_WITH_A: 'CheckResult_Type_BWithA';
    readonly SNS_TYPE_BOTH_WAY: 'CheckResult_Type_BothWay';
  };

  // --- results and errors ----------------------------------------------------------

  /** What every promise of the SDK resolves to, as Tencent's. */
  interface Response<T> {
    code: 0;
    data: T;
  }

  /**
   * What every promise rejects with (and what creators throw): an Error with a code.
   * Server codes are in chat_project/errors.py; the SDK's own, with Tencent's Web SDK
   * numbers where it has one, are listed in sdk.js's header: 2108 empty file; 2251 /
   * 2252 / 2253 no image / not an image / image over 28 MB; 2301 voice over 28 MB;
   * 2351 / 2352 video over 100 MB / not a video; 2401 / 2402 no file / file over 100 MB;
   * 2300 / 2350 / 2400 upload failed (voice / video / file or image); 2450 not a merged
   * message; 2451 no downloadKey; 2452 no messageList in the answer; 2453 a message that
   * cannot be merged or forwarded; 70002 not logged in; 910003 a bad argument; 910013 /
   * 910014 over 300 messages / 200 KB to merge; 910201 connection ended; 910202 no
   * answer in time; 910203 upload cancelled.
   */
  interface ChatError extends Error {
    code: number;
    /** sendMessage's: the message, now status 'fail'. */
    data?: {message: Message};
    /** An upload's HTTP status, when the server answered. */
    httpStatus?: number;
  }

  // --- messages --------------------------------------------------------------------

  type ElementType = 'TIMTextElem' | 'TIMImageElem' | 'TIMSoundElem' | 'TIMFileElem'
    | 'TIMFaceElem' | 'TIMVideoFileElem' | 'TIMLocationElem' | 'TIMCustomElem'
    | 'TIMRelayElem';
  type Priority = 'High' | 'Normal' | 'Low' | 'Lowest';
  type MessageStatus = 'unSend' | 'success' | 'fail';

  interface TextPayload { text: string }
  interface FacePayload { index: number; data: string }
  interface LocationPayload { description: string; longitude: number; latitude: number }
  interface CustomPayload { data: string; description: string; extension: string; sound?: string }
  /** Before the upload, every file message's payload also has these (a file's always). */
  interface LocalFile {
    fileName?: string;
    fileSize?: number;
  }
  interface ImageInfo {
    /** 1 the original, 2 large (720 px), 3 thumbnail (198 px). */
    type: number;
    size: number;
    width: number;
    height: number;
    /** Before the upload: a local object URL (blob:), or '' where there is none. */
    url: string;
  }
  interface ImagePayload extends LocalFile {
    uuid: string;
    format: string;
    imageInfoArray: ImageInfo[];
  }
  interface SoundPayload extends LocalFile { uuid: string; url: string; size: number; second: number }
  interface FilePayload { uuid: string; url: string; fileName: string; fileSize: number }
  interface VideoPayload extends LocalFile {
    videoUUID: string;
    videoUrl: string;
    videoSize: number;
    videoSecond: number;
    videoFormat: string;
    thumbUUID: string;
    thumbUrl: string;
    thumbWidth: number;
    thumbHeight: number;
  }
  /** A merged message in a list, as Tencent's SDK keeps it (the wire form). */
  interface MergedItem {
    ID?: string;
    from: string;
    to?: string;
    time: number;
    seq?: number;
    random?: number;
    nick?: string;
    avatar?: string;
    cloudCustomData?: string;
    messageBody: Element[];
  }
  interface MergerPayload {
    title: string;
    abstractList: string[];
    compatibleText: string;
    /** Inline, or after downloadMergerMessage (then Message objects). */
    messageList?: Array<MergedItem | Message>;
    /** Set when the server stored the list apart. */
    downloadKey?: string;
  }
  type Payload = TextPayload | FacePayload | LocationPayload | CustomPayload | ImagePayload
    | SoundPayload | FilePayload | VideoPayload | MergerPayload;

  interface Element {
    type: ElementType;
    payload: Payload;
  }

  interface Message {
    ID: string;
    /** Tencent's: the first element's type and payload. */
    type: ElementType | '';
    payload: Payload | Record<string, never>;
    /** Parley's wire form: every element of the message. */
    elements: Element[];
    /** In a downloaded merged list: Tencent's name for `elements`. */
    messageBody?: Element[];
    conversationID: string;
    conversationType: 'C2C';
    from: string;
    to: string;
    flow: 'in' | 'out';
    /** Seconds. */
    time: number;
    seq: number;
    sequence: number;
    random: number;
    priority: Priority;
    nick: string;
    avatar: string;
    cloudCustomData: string;
    needReadReceipt: boolean;
    isPeerRead: boolean;
    isRevoked: boolean;
    isModified: boolean;
    isSystem: boolean;
    /** A system notice sent by the operators (Tencent's field name; the wire's isSystem):
     * draw it as a notice, not as a person's message. Its elements are any type. */
    isSystemMessage: boolean;
    /** Sent with isSupportExtension: its two users may attach key-value extensions. */
    isSupportExtension: boolean;
    status: MessageStatus;
    /** modifyMessage's guard against a lost update. */
    version?: string;
  }

  interface MessageOptions<P> {
    to: string;
    conversationType?: 'C2C';
    priority?: Priority;
    payload: P;
    cloudCustomData?: string;
    needReadReceipt?: boolean;
    /** Let both users attach key-value extensions to the message (setMessageExtensions). */
    isSupportExtension?: boolean;
  }

  /** A key-value extension of a message; `seq` is its version (Parley's). */
  interface MessageExtension {
    key: string;
    value: string;
    seq: number;
  }

  /** Someone who reacted. */
  interface ReactionUser {
    userID: string;
    nick: string;
    avatar: string;
  }

  /** One reaction ID on a message: how many, the first people, and whether I am among them. */
  interface ReactionInfo {
    reactionID: string;
    totalUserCount: number;
    partialUserList: ReactionUser[];
    reactedByMyself: boolean;
  }

  /** A message's reactions, in the order each first came. */
  interface MessageReactions {
    messageID: string;
    reactionList: ReactionInfo[];
  }

  /** One key of a set or delete: code 0, or 23001 with what is stored (changed first elsewhere). */
  interface MessageExtensionResult extends MessageExtension {
    code: number;
  }

  /** A file as the creators take it: an <input type=file> (its first file), a File or a Blob. */
  type FileSource = Blob | {files: ArrayLike<Blob>};

  interface FileMessageOptions<P> extends MessageOptions<P> {
    /** Called as the upload goes: a fraction from 0 to 1, as Tencent's. */
    onProgress?: (fraction: number) => void;
  }

  interface SendOptions {
    onlineUserOnly?: boolean;
    offlinePushInfo?: {
      disablePush?: boolean;
      title?: string;
      description?: string;
      extension?: string;
      ignoreIOSBadge?: boolean;
      androidOPPOChannelID?: string;
      /** Tencent's nested names; the SDK sends them flat (a flat key given wins). */
      androidInfo?: {sound?: string; OPPOChannelID?: string; XiaoMiChannelID?: string;
                     FCMChannelID?: string; VIVOClassification?: number; VIVOCategory?: string;
                     HuaWeiCategory?: string; [key: string]: unknown};
      apnsInfo?: {sound?: string; ignoreIOSBadge?: boolean; [key: string]: unknown};
      /** Both platforms' sound, under each platform's own (androidInfo.sound, apnsInfo.sound). */
      sound?: string;
      /** The flat vendor keys push/offline_info.py takes (androidVIVOClassification, iOSSubtitle, ...). */
      [key: string]: unknown;
    };
    messageControlInfo?: {excludedFromUnreadCount?: boolean; excludedFromLastMessage?: boolean};
  }

  // --- conversations, profiles, relationships --------------------------------------

  interface Profile {
    userID: string;
    nick: string;
    avatar: string;
    gender?: string;
    birthday?: number;
    location?: string;
    selfSignature?: string;
    allowType?: string;
    language?: number;
    adminForbidType?: string;
    level?: number;
    role?: number;
    profileCustomField?: Array<{key: string; value: string | number}>;
  }

  interface Conversation {
    conversationID: string;
    type: 'C2C';
    userProfile: Profile;
    lastMessage: Message | null;
    unreadCount: number;
    isPinned: boolean;
    draftText: string;
    peerReadTime: number;
    messageRemindType?: 'AcceptAndNotify' | 'AcceptNotNotify' | 'Discard';
  }

  interface Friend {
    userID: string;
    remark: string;
    groupList: string[];
    source: string;
    wording: string;
    addTime: number;
    profile: Profile;
    friendCustomField: Array<{key: string; value: string | number}>;
  }

  interface FriendApplication {
    userID: string;
    avatar: string;
    nick: string;
    time: number;
    source: string;
    wording: string;
    type: 'Pendency_Type_ComeIn' | 'Pendency_Type_SendOut';
  }

  interface FriendApplicationList {
    friendApplicationList: FriendApplication[];
    unreadCount: number;
  }

  interface FriendGroup { name: string; userIDList: string[]; count: number }

  interface UserStatus { userID: string; statusType: 0 | 1 | 2 | 3; customStatus: string }

  interface PeerRead {
    conversationID: string;
    peerReadSeq: number;
    peerReadTime: number;
    messageIDList?: string[];
  }

  /** What each event's handler gets as `event.data`. */
  interface EventMap {
    sdkStateReady: Record<string, never>;
    sdkStateNotReady: Record<string, never>;
    onMessageReceived: Message[];
    onMessageModified: Message[];
    onMessageRevoked: Message[];
    onMessageReadByPeer: PeerRead[];
    onMessageExtensionsUpdated: {messageID: string; extensions: MessageExtension[]};
    onMessageExtensionsDeleted: {messageID: string; keyList: string[]};
    /** The reaction that changed; totalUserCount 0: nobody holds it any more. */
    onMessageReactionsUpdated: MessageReactions;
    onConversationListUpdated: Conversation[];
    onTotalUnreadMessageCountUpdated: number;
    onProfileUpdated: Profile[];
    onUserStatusUpdated: UserStatus[];
    blacklistUpdated: string[];
    onFriendListUpdated: Friend[];
    onFriendApplicationListUpdated: FriendApplicationList;
    onFriendGroupListUpdated: FriendGroup[];
    kickedOut: {type: string};
    error: {code: number; message: string};
    netStateChange: {state: 'connected' | 'connecting' | 'disconnected'; retryInMs?: number};
    onTyping: {from: string; conversationID: string; typing: boolean};
    onMessageDeleted: {conversationID: string; messageIDList: string[]};
    onSyncReset: Record<string, never>;
  }

  type Handler<K extends keyof EventMap> = (event: {name: K; data: EventMap[K]}) => void;

  interface Chat {
    // events
    on<K extends keyof EventMap>(eventName: K, handler: Handler<K>, context?: unknown): void;
    off<K extends keyof EventMap>(eventName: K, handler: Handler<K>): void;

    // session
    /** {userID, userSig}; a signed-in browser: login({}) (its session cookie). */
    login(options?: {userID?: string; userSig?: string; deviceID?: string; instanceID?: string;
      platform?: string}):
      Promise<Response<{repeatLogin: false; userID: string}>>;
    logout(): Promise<Response<Record<string, never>>>;
    destroy(): Promise<Response<Record<string, never>>>;
    isReady(): boolean;
    getLoginUser(): string;

    // creating messages (synchronous; they throw a ChatError on bad options)
    createTextMessage(options: MessageOptions<{text: string}>): Message;
    createCustomMessage(options: MessageOptions<{data?: string; description?: string; extension?: string}>): Message;
    createFaceMessage(options: MessageOptions<{index: number; data?: string}>): Message;
    createLocationMessage(options: MessageOptions<{description?: string; longitude: number; latitude: number}>): Message;
    createImageMessage(options: FileMessageOptions<{file: FileSource}>): Message;
    /** `second`: the voice's length in seconds (Parley's). */
    createAudioMessage(options: FileMessageOptions<{file: FileSource; second?: number}>): Message;
    /** `second` and `thumb` (a cover image) are Parley's. */
    createVideoMessage(options: FileMessageOptions<{file: FileSource; second?: number; thumb?: FileSource}>): Message;
    createFileMessage(options: FileMessageOptions<{file: FileSource}>): Message;
    createMergerMessage(options: MessageOptions<{
      messageList: Message[];
      title: string;
      abstractList?: string[];
      compatibleText: string;
    }>): Message;
    createForwardMessage(options: MessageOptions<Message>): Message;

    // sending and files
    /** Uploads a file message's file first (once), then sends; resolves with the stored message. */
    sendMessage(message: Message, options?: SendOptions): Promise<Response<{message: Message}>>;
    resendMessage(message: Message, options?: SendOptions): Promise<Response<{message: Message}>>;
    /** Parley's: stop a file message's upload; whether one was stopped. */
    cancelUploadMessage(message: Message): boolean;
    /** Fills message.payload.messageList (Message objects) and resolves with the message. */
    downloadMergerMessage(message: Message): Promise<Response<Message>>;

    // history and changes to stored messages
    getMessageList(options: {conversationID: string; nextReqMessageID?: string; count?: number}):
      Promise<Response<{messageList: Message[]; nextReqMessageID: string; isCompleted: boolean}>>;
    revokeMessage(message: Message): Promise<Response<{message: Message}>>;
    modifyMessage(message: Message): Promise<Response<{message: Message}>>;
    deleteMessage(messageList: Array<Message | string>):
      Promise<Response<{messageList: Array<Message | string>; messageIDList: string[]}>>;
    sendMessageReadReceipt(messageList: Array<Message | string>): Promise<Response<Record<string, never>>>;

    // key-value extensions of a message sent with isSupportExtension (1 to 20 keys a call;
    // key ≤ 100 bytes, value ≤ 1,000 bytes, 300 keys a message)
    setMessageExtensions(message: Message, extensions: Array<{key: string; value: string}>):
      Promise<Response<{extensions: MessageExtensionResult[]}>>;
    getMessageExtensions(message: Message, keyList?: string[]):
      Promise<Response<{extensions: MessageExtension[]}>>;
    /** No keyList: every key. */
    deleteMessageExtensions(message: Message, keyList?: string[]):
      Promise<Response<{extensions: MessageExtensionResult[]}>>;

    // reactions (reactionID 1 to 100 bytes; 20 reaction IDs a message)
    addMessageReaction(message: Message, reactionID: string): Promise<Response<Record<string, never>>>;
    removeMessageReaction(message: Message, reactionID: string): Promise<Response<Record<string, never>>>;
    getMessageReactions(options: {messageList: Array<Message | string>; maxUserCountPerReaction?: number}):
      Promise<Response<{resultList: MessageReactions[]}>>;
    getAllUserListOfMessageReaction(options: {message: Message; reactionID: string; nextSeq?: number; count?: number}):
      Promise<Response<{userList: ReactionUser[]; nextSeq: number; isCompleted: boolean}>>;

    // conversations and unread counts
    getConversationList(options?: string[]): Promise<Response<{conversationList: Conversation[]}>>;
    deleteConversation(options: string | {conversationIDList: string[]; clearHistoryMessage?: boolean}):
      Promise<Response<{conversationIDList: string[]}>>;
    clearHistoryMessage(conversationID: string): Promise<Response<Record<string, never>>>;
    pinConversation(options: {conversationID: string; isPinned: boolean}):
      Promise<Response<{conversationID: string}>>;
    setConversationDraft(options: {conversationID: string; draftText: string}):
      Promise<Response<Record<string, never>>>;
    setMessageRead(options: {conversationID: string}): Promise<Response<Record<string, never>>>;
    /** Receive option for peers (1-30): 'AcceptNotNotify' no offline push, 'Discard' not delivered live. */
    setMessageRemindType(options: {userIDList: string[]; messageRemindType: 'AcceptAndNotify' | 'AcceptNotNotify' | 'Discard'}):
      Promise<Response<Record<string, never>>>;
    /** Global receive option: opt 0 or 2 (no offline push), a daily quiet window (UTC). */
    setAllReceiveMessageOpt(options: {opt?: number; startHour?: number; startMinute?: number; startSecond?: number; duration?: number}):
      Promise<Response<unknown>>;
    getAllReceiveMessageOpt(): Promise<Response<unknown>>;
    getTotalUnreadMessageCount(): number;

    // profiles and online status
    getMyProfile(): Promise<Response<Profile>>;
    updateMyProfile(options: Partial<Omit<Profile, 'userID'>> & {messageSettings?: number}):
      Promise<Response<Profile>>;
    getUserProfile(options: {userIDList: string[]}): Promise<Response<Profile[]>>;
    /** Parley's: users whose UserID starts with, or nick contains, `keyword`. */
    searchUsers(options: {keyword: string; count?: number}): Promise<Response<{userList: Profile[]}>>;
    getUserStatus(options: {userIDList: string[]}):
      Promise<Response<{successUserList: UserStatus[]; failureUserList: Array<{userID: string; code: number; message: string}>}>>;
    subscribeUserStatus(options: {userIDList: string[]}):
      Promise<Response<{failureUserList: Array<{userID: string; code: number; message: string}>}>>;
    unsubscribeUserStatus(options?: {userIDList?: string[]}):
      Promise<Response<{failureUserList?: Array<{userID: string; code: number; message: string}>}>>;
    /** Parley's: tell `to` I am typing (or stopped). */
    sendTyping(options: {to: string; typing?: boolean}): Promise<Response<Record<string, never>>>;
    setSelfStatus(options: {customStatus: string}): Promise<Response<unknown>>;

    // friends
    getFriendList(): Promise<Response<Friend[]>>;
    addFriend(options: {to: string; source: string; wording?: string; type?: string; remark?: string; groupName?: string}):
      Promise<Response<{userID: string; code: number; message: string}>>;
    deleteFriend(options: {userIDList: string[]; type?: string}):
      Promise<Response<{successUserIDList: unknown[]; failureUserIDList: unknown[]}>>;
    checkFriend(options: {userIDList: string[]; type: string}):
      Promise<Response<{successUserIDList: Array<{userID: string; code: number; relation: string}>; failureUserIDList: unknown[]}>>;
    getFriendProfile(options: {userIDList: string[]}):
      Promise<Response<{friendList: Friend[]; failureUserIDList: unknown[]}>>;
    updateFriend(options: {userID: string; remark?: string; friendCustomField?: Array<{key: string; value: string | number}>}):
      Promise<Response<Friend>>;
    getFriendApplicationList(): Promise<Response<FriendApplicationList>>;
    acceptFriendApplication(options: {userID: string; remark?: string; type: string}): Promise<Response<unknown>>;
    refuseFriendApplication(options: {userID: string}): Promise<Response<unknown>>;
    deleteFriendApplication(options: {userID: string; type: string}): Promise<Response<unknown>>;
    setFriendApplicationRead(): Promise<Response<unknown>>;

    // friend groups
    getFriendGroupList(): Promise<Response<FriendGroup[]>>;
    createFriendGroup(options: {name: string; userIDList?: string[]}):
      Promise<Response<{friendGroup: FriendGroup; failureUserIDList: unknown[]}>>;
    deleteFriendGroup(options: {name: string}): Promise<Response<unknown>>;
    renameFriendGroup(options: {oldName: string; newName: string}): Promise<Response<{friendGroup: FriendGroup}>>;
    addToFriendGroup(options: {name: string; userIDList: string[]}):
      Promise<Response<{friendGroup: FriendGroup; failureUserIDList: unknown[]}>>;
    removeFromFriendGroup(options: {name: string; userIDList: string[]}):
      Promise<Response<{friendGroup: FriendGroup; failureUserIDList: unknown[]}>>;

    // blocklist
    getBlacklist(): Promise<Response<string[]>>;
    addToBlacklist(options: {userIDList: string[]}): Promise<Response<unknown>>;
    removeFromBlacklist(options: {userIDList: string[]}): Promise<Response<unknown>>;
  }
}

interface Window {
  ParleyChat: typeof ParleyChat;
}
