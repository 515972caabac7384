local core = require "vonage.core"

describe("vonage.core primitives", function()
  it("hashes with SHA-256 and HMAC-SHA256 (published test vectors)", function()
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                 core.hex(core.sha256("abc")))
    assert.equal("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
                 core.hex(core.hmac_sha256("key", "The quick brown fox jumps over the lazy dog")))
    assert.has_error(function() core.hmac_sha256("", "x") end)
  end)

  it("round-trips base64url and refuses anything but its strict form", function()
    for _, s in ipairs { "", "f", "fo", "foo", "foob", "\0\255\254", string.rep("x", 1000) } do
      assert.equal(s, core.base64url_decode(core.base64url_encode(s)))
    end
    assert.equal("__79YQ", core.base64url_encode("\255\254\253a"))
    for _, bad in ipairs { "a", "ab+c", "ab/c", "ab==", "YR", "a\0bc" } do
      assert.is_nil(core.base64url_decode(bad), bad)
    end
  end)

  it("makes random UUIDs and bytes from the CSPRNG", function()
    local a, b = core.uuid4(), core.uuid4()
    assert.truthy(a:match("^%x+%-%x+%-4%x%x%x%-[89ab]%x%x%x%-%x+$"))
    assert.are_not.equal(a, b)
    assert.equal(32, #core.random_bytes(32))
    assert.are_not.equal(core.random_bytes(16), core.random_bytes(16))
  end)

  it("compares in constant time with the right answer", function()
    assert.is_true(core.const_equal("abc", "abc"))
    assert.is_false(core.const_equal("abc", "abd"))
    assert.is_false(core.const_equal("abc", "ab"))
  end)
end)
