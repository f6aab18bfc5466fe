-- The same body size and headers against a trivial endpoint that only parses JSON.
request = function()
  local body = [[{"sender_case_id":"BENCH-x-1","version":0,"received_date":"2025-02-01",
"reporter":{"qualification":"physician","country":"CN"},"patient":{"patient_id":1},
"drugs":[{"treatment_id":1,"role":"suspect"}],
"reactions":[{"pt_code":"LOCAL-0001","pt_name":"Cytokine release syndrome","onset_date":"2025-01-12",
"seriousness":{"hospitalisation":true},"outcome":"recovered","grade":2,"grade_scale":"astct"}],
"narrative":"benchmark report"}]]
  return wrk.format("POST", "/echo", {["Content-Type"] = "application/json"}, body)
end
