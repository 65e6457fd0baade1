def filter(event)
  event.set('status', 'done')
  [event]
end

test "marks the event" do
  in_event { { "id" => 1 } }
  # Deliberately wrong: the filter sets "done".
  expect("status is finished") { |events| events.first.get('status') == 'finished' }
end
