-- Each request is a new initial report (unique sender case id) for a known patient/treatment.
-- PAIRS_FILE lists "patient_id treatment_id" lines; TOKEN is the bearer token.
local pairs_list = {}
local counter = 0
local thread_tag = ""

-- Lua's random generator is not seeded: without this every run would resend the same
-- case ids, and measure the idempotent "already received" path instead of new reports.
math.randomseed(os.time())
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tag", string.format("%d-%d-%d", os.time(), thread_count, math.random(1, 1e9)))
end

function init(args)
  thread_tag = tag
  for line in io.lines(os.getenv("PAIRS_FILE")) do
    local p, t = line:match("(%d+) (%d+)")
    table.insert(pairs_list, {p, t})
  end
end

request = function()
  counter = counter + 1
  local pair = pairs_list[(counter % #pairs_list) + 1]
  local body = string.format([[{"sender_case_id":"BENCH-%s-%d","version":0,"received_date":"2025-02-01",
"reporter":{"qualification":"physician","country":"CN"},"patient":{"patient_id":%s},
"drugs":[{"treatment_id":%s,"role":"suspect"}],
"reactions":[{"pt_code":"LOCAL-0001","pt_name":"Cytokine release syndrome","onset_date":"2025-01-12",
"seriousness":{"hospitalisation":true},"outcome":"recovered","grade":2,"grade_scale":"astct"}],
"narrative":"benchmark report"}]], thread_tag, counter, pair[1], pair[2])
  return wrk.format("POST", "/v1/reports", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("TOKEN")}, body)
end
