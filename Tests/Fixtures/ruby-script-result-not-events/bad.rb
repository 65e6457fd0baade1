def filter(event)
  case event.get('kind')
  when 'nil' then nil
  when 'hash' then [{ 'not' => 'an event' }]
  else [event]
  end
end
