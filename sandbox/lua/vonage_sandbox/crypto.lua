-- The sandbox's own crypto: LuaJIT FFI straight to OpenSSL's libcrypto.
--
-- This path is deliberately independent of the client's (libjwt and the C
-- module): if both sides shared one implementation, a bug in it would sign and
-- verify consistently and no test could see it.
local ffi = require "ffi"

local ngx = ngx
local ffi_new, ffi_string, ffi_gc = ffi.new, ffi.string, ffi.gc
local concat = table.concat
local string_rep = string.rep

ffi.cdef [[
typedef struct bio_st BIO;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct engine_st ENGINE;

BIO *BIO_new_mem_buf(const void *buf, int len);
int BIO_free(BIO *a);
EVP_PKEY *PEM_read_bio_PUBKEY(BIO *bp, EVP_PKEY **x, void *cb, void *u);
void EVP_PKEY_free(EVP_PKEY *pkey);
int EVP_PKEY_get_base_id(const EVP_PKEY *pkey);
int EVP_PKEY_get_bits(const EVP_PKEY *pkey);

const EVP_MD *EVP_sha256(void);
EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx,
                         const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey);
int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
                     const unsigned char *tbs, size_t tbslen);

unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n,
                    unsigned char *md, unsigned int *md_len);
int RAND_bytes(unsigned char *buf, int num);

unsigned long ERR_get_error(void);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);
void ERR_clear_error(void);
]]

local C = ffi.load("libcrypto.so.3")

local EVP_PKEY_RSA = 6 -- rsaEncryption; RSA-PSS keys are not valid for RS256
local SHA256_LEN = 32

local M = {}

-- Drain OpenSSL's error queue into one message, so a stale error never
-- leaks into the next call's diagnosis.
local function openssl_error(what)
    local parts, buf = { what }, ffi_new("char[256]")
    while true do
        local code = C.ERR_get_error()
        if code == 0 then break end
        C.ERR_error_string_n(code, buf, 256)
        parts[#parts + 1] = ffi_string(buf)
    end
    return concat(parts, ": ")
end

-- random_bytes(n) -> string of n bytes from OpenSSL's CSPRNG
function M.random_bytes(n)
    local buf = ffi_new("unsigned char[?]", n)
    if C.RAND_bytes(buf, n) ~= 1 then
        error(openssl_error("RAND_bytes failed"))
    end
    return ffi_string(buf, n)
end

-- sha256(data) -> raw 32-byte digest
function M.sha256(data)
    local md = ffi_new("unsigned char[?]", SHA256_LEN)
    C.SHA256(data, #data, md)
    return ffi_string(md, SHA256_LEN)
end

-- hmac_sha256(key, data) -> raw 32-byte MAC
function M.hmac_sha256(key, data)
    local md, len = ffi_new("unsigned char[?]", SHA256_LEN), ffi_new("unsigned int[1]")
    if C.HMAC(C.EVP_sha256(), key, #key, data, #data, md, len) == nil then
        error(openssl_error("HMAC failed"))
    end
    return ffi_string(md, len[0])
end

-- load_rsa_public_key(pem) -> EVP_PKEY (freed by the GC) | nil, message
function M.load_rsa_public_key(pem)
    local bio = C.BIO_new_mem_buf(pem, #pem)
    if bio == nil then
        return nil, openssl_error("cannot allocate a BIO")
    end
    local pkey = C.PEM_read_bio_PUBKEY(bio, nil, nil, nil)
    C.BIO_free(bio)
    if pkey == nil then
        return nil, openssl_error("not a PEM public key")
    end
    pkey = ffi_gc(pkey, C.EVP_PKEY_free)
    if C.EVP_PKEY_get_base_id(pkey) ~= EVP_PKEY_RSA then
        return nil, "not an RSA public key"
    end
    if C.EVP_PKEY_get_bits(pkey) < 2048 then
        return nil, "RSA keys shorter than 2048 bits are not accepted"
    end
    return pkey
end

-- verify_rs256(pkey, data, signature) -> true | false, message
function M.verify_rs256(pkey, data, signature)
    local ctx = C.EVP_MD_CTX_new()
    if ctx == nil then
        return false, openssl_error("cannot allocate a digest context")
    end
    ctx = ffi_gc(ctx, C.EVP_MD_CTX_free)
    if C.EVP_DigestVerifyInit(ctx, nil, C.EVP_sha256(), nil, pkey) ~= 1 then
        return false, openssl_error("EVP_DigestVerifyInit failed")
    end
    local rc = C.EVP_DigestVerify(ctx, signature, #signature, data, #data)
    -- A bad signature also queues errors; clear them so they are not
    -- reported against some later, unrelated call.
    C.ERR_clear_error()
    if rc ~= 1 then
        return false, "signature does not verify"
    end
    return true
end

-- b64url_decode(text) -> string | nil (unpadded base64url, as JWTs use)
function M.b64url_decode(text)
    if text:find("[^%w_-]") then
        return nil
    end
    local padded = text:gsub("%-", "+"):gsub("_", "/")
    local rem = #padded % 4
    if rem == 1 then
        return nil
    end
    if rem > 0 then
        padded = padded .. string_rep("=", 4 - rem)
    end
    return ngx.decode_base64(padded)
end

return M
