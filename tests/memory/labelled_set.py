"""A small labelled set for hybrid search: memories, and queries with the memories they should find.

Some queries share no word with their answer (only search by meaning finds them); some are a rare
word or code whose meaning the embedding model can't know (only search by word finds them); the rest
could be found either way. The distractors are ordinary notes of the same kinds.
"""

MEMORIES = {
    "sister": "My sister's name is Alba and she lives in Valencia.",
    "dentist": "Dr. Okafor is my dentist at the Elm Street clinic.",
    "tea": "I like green tea first thing in the morning.",
    "car": "The car needs new winter tyres before December.",
    "allergy": "I am allergic to penicillin.",
    "locker": "The gym locker code is XK-7741.",
    "router": "The home router admin password is tulip-maze-93.",
    "server": "The build machine is called zorblax and runs the nightly jobs.",
    "pen": "Order a Quillfeather refill for the fountain pen.",
    "flight": "Flight LH1822 to Lisbon departs on the 14th at 07:05.",
    "plant": "Water the monstera plant every ten days.",
    "bank": "The mortgage payment goes out on the first of each month.",
    "guitar": "I have been learning to play the cello for two years.",
    "boss": "My manager Priya prefers short written updates on Fridays.",
    "dog": "Our dog Biscuit is scared of thunderstorms.",
    "book": "I am reading a novel about a lighthouse keeper in Norway.",
    # long notes that mention a rare word in passing: their meaning is elsewhere
    "trip": (
        "Notes from the Porto weekend: we stayed two nights near the river, ate grilled sardines at a "
        "small place behind the cathedral, walked across the upper deck of the bridge at sunset, and "
        "took the tram to the beach on Sunday. The hotel booking reference was QZ8W2L. Next time, book "
        "the port cellar tour in advance because it was sold out."
    ),
    "meeting": (
        "Minutes of the garden committee: the compost bins will be moved next to the shed, the spring "
        "planting day is set for the second Saturday of April, volunteers bring their own gloves, and "
        "the new water butt was ordered from Hartwell & Finch. Tea and cake as usual afterwards."
    ),
    # distractors
    "d1": "The library closes at six on Saturdays.",
    "d2": "Buy oat milk, eggs and bread.",
    "d3": "The quarterly report is due at the end of March.",
    "d4": "Remember to call the plumber about the leaking tap.",
    "d5": "The museum has a new exhibition on Roman coins.",
    "d6": "The recipe needs two cups of flour and a pinch of salt.",
    "d7": "Train tickets for the conference are in my email.",
    "d8": "The neighbour's cat sometimes sleeps in our garden.",
    "d9": "Backups run every night at two in the morning.",
    "d10": "The yoga class moved to Tuesday evenings.",
    # near neighbours of the rare-word memories: the same meaning, another code
    "n1": "The office locker code is QP-2210.",
    "n2": "The bike lock combination is 5519.",
    "n3": "The guest wifi password is amber-stone-41.",
    "n4": "The work laptop password is river-kite-07.",
    "n5": "The database machine is called quokka and runs the backups.",
    "n6": "The staging machine is called pelican and runs the test suite.",
    "n7": "Order a Lamy ink cartridge for the school pen.",
    "n8": "Flight BA0457 to Madrid departs on the 3rd at 09:40.",
    "n9": "Flight AF1290 to Nice departs on the 21st at 18:15.",
    "n10": "The storage unit code is MV-3308.",
    "n11": "The alarm code for the shop is 8842.",
}

# query -> (the memories it should find, how: "meaning" | "word" | "both")
QUERIES = {
    "who fixes my teeth?": (["dentist"], "meaning"),
    "what medicine must I avoid?": (["allergy"], "meaning"),
    "which instrument am I studying?": (["guitar"], "meaning"),
    "what is my pet afraid of?": (["dog"], "meaning"),
    "how should I report to my boss?": (["boss"], "meaning"),
    "what do I drink when I wake up?": (["tea"], "meaning"),
    "which code is XK-7741?": (["locker"], "word"),
    "where do I type tulip-maze-93?": (["router"], "word"),
    "what runs on zorblax?": (["server"], "word"),
    "Quillfeather order": (["pen"], "word"),
    "when does LH1822 leave?": (["flight"], "word"),
    "QZ8W2L": (["trip"], "word"),
    "Hartwell": (["meeting"], "word"),
    "what's my sister called?": (["sister"], "both"),
    "when do I water the monstera?": (["plant"], "both"),
    "when is the mortgage paid?": (["bank"], "both"),
    "which book am I reading?": (["book"], "both"),
    "winter tyres for the car": (["car"], "both"),
}
