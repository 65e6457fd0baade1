# Scales one numeric field; which field and by how much come from script_params.
def register(params)
  @target = params['field']
  @factor = params['multiplier']
end

def filter(event)
  event.set(@target, event.get(@target) * @factor)
  [event]
end

test "scales by the factor given" do
  parameters { { "field" => "count", "multiplier" => 5 } }
  in_event { { "count" => 7 } }
  expect("one event comes back") { |events| events.size == 1 }
  expect("7 * 5 = 35") { |events| events.first.get("count") == 35 }
end
