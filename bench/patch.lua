-- PATCH /admin/content/{id} as a curator: args are the token and the item id. The title
-- alternates so every request is a real write.
local token, item
local n = 0

function init(args)
  token, item = args[1], args[2]
end

function request()
  n = n + 1
  return wrk.format("PATCH", "/admin/content/" .. item, {
    ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token,
  }, '{"title":"Article, edit ' .. (n % 2) .. '"}')
end
