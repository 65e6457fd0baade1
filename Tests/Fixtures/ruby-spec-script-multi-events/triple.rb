def filter(event)
  (1..3).map do |n|
    copy = event.clone
    copy.set('copy', n)
    copy
  end
end
