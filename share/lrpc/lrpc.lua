-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Wireshark dissector for captures written by `lrpc capture`
-- (docs/tools.md): pcapng, link type LINKTYPE_USER0 (147).  Each packet:
--
--   pseudo-header (24 bytes, little-endian)
--     u32 magic "LRPT"  u8 direction (0 request, 1 response, 2 event)
--     u8 name length    u16 reserved
--     u64 connection    u32 message size    u32 messages lost before it
--   the method's name ("kv.Store.get"), padded to 8 bytes
--   the message as tapped (maybe cut): the 24-byte core header, and for
--   RPC messages the 24-byte RPC header and the payload (docs/wire.md)
--
-- Use: tshark -X lua_script:/usr/share/lrpc/lrpc.lua -r FILE.pcapng
-- or copy it into ~/.local/lib/wireshark/plugins/.

local lrpc = Proto("lrpc", "lrpc IPC")

local dirs = { [0] = "request", [1] = "response", [2] = "event" }
local arrows = { [0] = "->", [1] = "<-", [2] = "<=" }
local kinds = {
	[1] = "call", [2] = "reply", [3] = "error reply", [4] = "oneway",
	[5] = "event", [6] = "hello", [7] = "hello reply", [8] = "cancel",
	[9] = "hello diff",
}
local core_kinds = { [1] = "request", [2] = "response", [3] = "event" }

local f = lrpc.fields
f.direction = ProtoField.uint8("lrpc.direction", "Direction", base.DEC, dirs)
f.connection = ProtoField.uint64("lrpc.connection", "Connection", base.DEC)
f.msg_size = ProtoField.uint32("lrpc.message_size", "Message size", base.DEC)
f.lost = ProtoField.uint32("lrpc.lost", "Lost before", base.DEC)
f.method = ProtoField.string("lrpc.method", "Method")
f.size = ProtoField.uint32("lrpc.size", "Size", base.DEC)
f.id = ProtoField.uint32("lrpc.id", "Id (interface)", base.HEX)
f.error = ProtoField.int32("lrpc.error", "Error", base.DEC)
f.flags = ProtoField.uint32("lrpc.flags", "Flags", base.HEX, core_kinds, 3)
f.seq = ProtoField.uint64("lrpc.seq", "Sequence", base.DEC)
f.call_id = ProtoField.uint64("lrpc.rpc.call_id", "Call id", base.DEC)
f.ordinal = ProtoField.uint16("lrpc.rpc.method", "Method ordinal", base.DEC)
f.kind = ProtoField.uint16("lrpc.rpc.kind", "Kind", base.DEC, kinds)
f.version = ProtoField.uint16("lrpc.rpc.version", "Version", base.DEC)
f.status = ProtoField.int32("lrpc.rpc.status", "Status", base.DEC)
f.hash = ProtoField.uint32("lrpc.rpc.hash", "Hash / deadline", base.HEX)
f.payload = ProtoField.bytes("lrpc.rpc.payload", "Payload")

function lrpc.dissector(tvb, pinfo, tree)
	local len = tvb:len()
	if len < 24 or tvb(0, 4):le_uint() ~= 0x5450524c then
		return 0
	end
	pinfo.cols.protocol = "LRPC"
	local dir = tvb(4, 1):uint()
	local nlen = tvb(5, 1):uint()
	local npad = math.floor((nlen + 7) / 8) * 8
	local conn = tvb(8, 8):le_uint64()
	local t = tree:add(lrpc, tvb(), "lrpc")
	t:add_le(f.direction, tvb(4, 1))
	t:add_le(f.connection, tvb(8, 8))
	t:add_le(f.msg_size, tvb(16, 4))
	t:add_le(f.lost, tvb(20, 4))
	local name = ""
	if nlen > 0 and 24 + nlen <= len then
		name = tvb(24, nlen):string()
		t:add(f.method, tvb(24, nlen))
	end
	local off = 24 + npad
	local info = string.format("conn %s %s %s", tostring(conn),
				   arrows[dir] or "??", name)
	if off + 24 <= len then
		local c = t:add(lrpc, tvb(off, 24), "Core header")
		c:add_le(f.size, tvb(off, 4))
		c:add_le(f.id, tvb(off + 4, 4))
		c:add_le(f.error, tvb(off + 8, 4))
		c:add_le(f.flags, tvb(off + 12, 4))
		c:add_le(f.seq, tvb(off + 16, 8))
		if name == "" then
			info = info .. string.format("id %08x",
						     tvb(off + 4, 4):le_uint())
		end
	end
	off = off + 24
	if nlen > 0 and off + 24 <= len then
		local r = t:add(lrpc, tvb(off, 24), "RPC header")
		r:add_le(f.call_id, tvb(off, 8))
		r:add_le(f.ordinal, tvb(off + 8, 2))
		r:add_le(f.kind, tvb(off + 10, 2))
		r:add_le(f.version, tvb(off + 12, 2))
		r:add_le(f.status, tvb(off + 16, 4))
		r:add_le(f.hash, tvb(off + 20, 4))
		local kind = tvb(off + 10, 2):le_uint()
		local status = tvb(off + 16, 4):le_int()
		info = info .. " " .. (kinds[kind] or "?")
		if status ~= 0 then
			info = info .. " status " .. status
		end
		if off + 24 < len then
			t:add(f.payload, tvb(off + 24))
		end
	end
	pinfo.cols.info = info
	return len
end

local encap = (wtap_encaps and wtap_encaps.USER0) or 45
DissectorTable.get("wtap_encap"):add(encap, lrpc)
