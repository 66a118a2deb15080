-- Mission ids of every job and status update Redis holds, read in one atomic step (the reconciler).
local ids = {}
local function add(body)
  local ok, item = pcall(cjson.decode, body)
  if ok and type(item) == 'table' and type(item['mission_id']) == 'string' then
    ids[#ids + 1] = item['mission_id']
  end
end
for i, key in ipairs(KEYS) do
  local items
  if i == 2 then items = redis.call('ZRANGE', key, 0, -1) else items = redis.call('LRANGE', key, 0, -1) end
  for _, body in ipairs(items) do add(body) end
end
return ids
