-- POST /auth/refresh with a chain of tokens: each answer's refresh token is the next request's.
-- Run with one connection (-t1 -c1): a refresh token is good for exactly one use.
local token

function init(args)
  token = args[1]
end

function request()
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"},
                    '{"refreshToken":"' .. token .. '"}')
end

function response(status, headers, body)
  local next_token = body:match('"refreshToken":"([^"]+)"')
  if next_token then
    token = next_token
  end
end
