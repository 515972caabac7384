-- Run by dh-lua after the build (lua5.x -lvonage), against the built tree.
local v = require "vonage"
local version = io.open("VERSION"):read("*l")
assert(v._VERSION == "lua-vonage " .. version, v._VERSION)
assert(v.client { api_key = "k", api_secret = "s" }.auth == "basic")
print(_VERSION .. ": " .. v._VERSION)
