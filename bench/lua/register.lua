-- wrk: POST /api/auth/register with a new citizen each time.
local threads = 0
local run = os.time()
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local body = string.format(
    '{"name":"Bench Citizen","email":"bench-%d-%d-%d@example.com","password":"Bench1234","role":"citizen"}',
    run, tid, n)
  return wrk.format("POST", "/api/auth/register", { ["Content-Type"] = "application/json" }, body)
end
