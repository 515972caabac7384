-- All of the sandbox's state, and its virtual clock.
--
-- nginx runs one worker (the launcher says so), so plain module tables are
-- the whole store: no shared dict, no locks. Other modules always reach the
-- tables through this module (state.requests, never a cached local), because
-- reset() replaces them.
local ngx = ngx
local pairs = pairs

local M = {}

-- Applications and accounts registered with keep = true (the REPL's, from
-- `make sandbox-start`): a reset keeps them, so a REPL's client still works.
local kept_applications, kept_accounts, kept_callback = {}, {}, nil

-- keep_application(id, entry) / keep_account(key, secret): register for good
function M.keep_application(application_id, entry)
    kept_applications[application_id] = entry
    M.applications[application_id] = entry
end

function M.keep_account(api_key, api_secret)
    kept_accounts[api_key] = api_secret
    M.accounts[api_key] = api_secret
end

-- keep_callback(config): the callback settings (its signature secret) survive a reset
function M.keep_callback(config)
    kept_callback = config
    M.callback = config
end

local function copy(t)
    local out = {}
    for k, v in pairs(t) do
        out[k] = v
    end
    return out
end

-- reset([all]): forget everything, as if the sandbox had just started, but
-- the kept credentials (all: those too). Later features add their own
-- tables here, so one reset clears them too.
function M.reset(all)
    if all then
        kept_applications, kept_accounts, kept_callback = {}, {}, nil
    end
    M.requests = {}     -- request_id -> verification record (verify.lua)
    M.active = {}       -- request_id -> record, while it is in progress
    M.outbox = {}       -- messages "sent" to users, oldest first
    M.log = {}          -- authenticated API requests, oldest first
    M.faults = {}       -- canned answers waiting to be served (fault.lua)
    M.applications = copy(kept_applications) -- application_id -> { public_key = pem, pkey = EVP_PKEY }
    M.accounts = copy(kept_accounts) -- api_key -> api_secret
    -- Switches for quick demos (control API POST /_sandbox/settings);
    -- the defaults are the reference's rules.
    M.settings = { cancel_after = 30 } -- seconds after the start before a cancel is allowed
    M.offset = 0        -- seconds the virtual clock runs ahead of real time
    M.redirect_uris = {} -- application_id -> registered OAuth redirect URIs, in order (oauth.lua)
    M.oauth_codes = {}  -- authorization code -> grant (oauth.lua)
    M.access_tokens = {} -- access token -> grant (oauth.lua)
    M.device_number = nil -- the number the device's SIM holds; nil: the login_hint (oauth.lua)
    M.silent_auth = {}  -- check_url chain token -> session (silent_auth.lua)
    M.templates = {}    -- custom templates, oldest first, with their fragments (templates.lua)
    M.template_switches = { forbidden = false, endless_next = false }
    M.callback = kept_callback -- callback URL and signing settings (callbacks.lua)
    M.deliveries = {}   -- every callback delivery, oldest first (callbacks.lua)
    M.callback_queue = {} -- deliveries waiting for the delivery timer
    M.sink = {}         -- what POST /_sink/... received
end

-- now() -> virtual epoch seconds (integer). Deadlines and timestamps use this
-- clock so specs can jump past a channel_timeout; JWT expiry does not.
function M.now()
    return ngx.time() + M.offset
end

-- advance(seconds): move the virtual clock
function M.advance(seconds)
    M.offset = M.offset + seconds
end

M.reset()

return M
