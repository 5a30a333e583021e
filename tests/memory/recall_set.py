"""A labelled set for recall: 100+ personal notes and document chunks, and 100+ questions a person
would ask about them, in other words than the notes use, plus questions whose answer is not stored.

Used by tests/memory/test_recall.py (the targets) and benchmarks/recall.py (the numbers). The notes
are the kind people keep (family, health, home, work, travel, codes); the documents are chunks of the
kind people import (a lease, a boiler manual, a recipe, a team handbook). The questions were written
as someone asks, not to match: most share no keyword with their answer.
"""

from __future__ import annotations

from collections.abc import Callable

NOTES = {
    # family and friends
    "sister": "My sister's name is Alba and she lives in Valencia.",
    "brother": "My brother Tomas works as a paramedic in Bristol.",
    "mum_bday": "Mum's birthday is on the 3rd of May.",
    "dad_allergy": "Dad can't eat shellfish; he is allergic.",
    "niece": "My niece Lina just started primary school.",
    "partner_job": "Jonas, my partner, teaches chemistry at the high school.",
    "anniversary": "Our wedding anniversary is the 18th of September.",
    "best_friend": "My best friend Carla moved to Montreal last year.",
    "grandma": "Grandma Rosa lives in a care home in Girona.",
    "son_school": "Our son Leo is in year four at Hill Park school.",
    "son_shoe": "Leo wears shoe size 33.",
    "daughter_swim": "Maya has swimming lessons on Wednesdays at half past five.",
    # health
    "allergy": "I am allergic to penicillin.",
    "blood": "My blood type is O negative.",
    "dentist": "Dr. Okafor is my dentist at the Elm Street clinic.",
    "gp": "My GP is Dr. Hassan at the Riverside surgery.",
    "meds": "I take 50 mg of sertraline every morning.",
    "glasses": "My glasses prescription is -2.25 in both eyes.",
    "physio": "The physiotherapist said to do knee exercises twice a day.",
    "vaccine": "My last tetanus shot was in 2021.",
    # home
    "wifi": "The home wifi password is tulip-maze-93.",
    "router_admin": "The router's admin page is at 192.168.1.254.",
    "boiler_service": "The boiler was last serviced in October by Heatwise.",
    "bins": "Recycling bins go out on Thursday nights.",
    "landlord": "Our landlord is Mr. Patel; his number is in the lease folder.",
    "rent": "The rent is 1,150 euros, paid on the first of the month.",
    "plant": "Water the monstera plant every ten days.",
    "spare_key": "The spare key is with the neighbour at number 12.",
    "meter": "The electricity meter is in the cupboard under the stairs.",
    "paint": "The living room walls are painted in Farrow & Ball Pigeon.",
    "fuse": "The fuse box is behind the coats in the hallway.",
    "internet": "Our broadband contract with Fibrenet ends in March 2027.",
    # pets
    "dog": "Our dog Biscuit is scared of thunderstorms.",
    "dog_food": "Biscuit eats grain-free salmon kibble, two cups a day.",
    "cat_vet": "The cat's vet is Dr. Lind at Northside Animal Clinic.",
    "cat_name": "Our cat is called Miso and she is eleven years old.",
    # car and transport
    "car_tyres": "The car needs new winter tyres before December.",
    "car_plate": "The car's number plate is KD19 XRT.",
    "car_insurance": "Car insurance renews on the 2nd of February with Aviva.",
    "parking": "I park on level 3 of the station car park.",
    "bike_lock": "The bike lock combination is 5519.",
    "train_pass": "My season train ticket runs out at the end of June.",
    # work
    "boss": "My manager Priya prefers short written updates on Fridays.",
    "standup": "Team stand-up is at 9:30 every weekday.",
    "project": "I am leading the migration of the billing system to PostgreSQL.",
    "deadline": "The quarterly report is due on the 31st of March.",
    "colleague": "Ahmed from finance approves expense claims.",
    "office": "My desk is on the fourth floor, next to the kitchen.",
    "laptop": "The work laptop's asset tag is WL-48213.",
    "server": "The build machine is called zorblax and runs the nightly jobs.",
    "vpn": "The VPN needs to be reconnected after every reboot.",
    "salary": "My salary is paid on the 25th of each month.",
    "holiday_days": "I have 14 days of annual leave left this year.",
    # money
    "bank": "The mortgage payment goes out on the first of each month.",
    "savings": "We are saving for a new kitchen; the goal is 12,000 euros.",
    "tax": "My tax number is stored in the blue folder in the study.",
    "pension": "My pension provider is Scottish Widows.",
    "phone_plan": "My phone contract costs 18 euros a month with 40 GB of data.",
    # hobbies and preferences
    "cello": "I have been learning to play the cello for two years.",
    "book": "I am reading a novel about a lighthouse keeper in Norway.",
    "tea": "I like green tea first thing in the morning.",
    "coffee": "I take my coffee with oat milk and no sugar.",
    "vegetarian": "I have been vegetarian since 2015.",
    "running": "I run 5 km in the park on Saturday mornings.",
    "team": "I support Athletic Bilbao.",
    "music": "My favourite band is Radiohead.",
    "film": "My favourite film is Spirited Away.",
    "language": "I am learning Japanese on Tuesday evenings.",
    "garden": "I grow tomatoes and basil on the balcony.",
    "yoga": "Yoga class moved to Thursday at 7 pm.",
    "choir": "Choir rehearsal is in St Mark's church hall on Mondays.",
    # travel and plans
    "flight": "Flight LH1822 to Lisbon departs on the 14th at 07:05.",
    "passport": "My passport expires in August 2028.",
    "hotel": "The hotel in Kyoto is booked for the 3rd to the 9th of April.",
    "trip": "We are going camping in the Pyrenees in July.",
    "visa": "I need an ESTA before travelling to the United States.",
    "frequent_flyer": "My frequent flyer number is MM 4410 2291.",
    # codes and accounts
    "locker": "The gym locker code is XK-7741.",
    "alarm": "The house alarm code is 8842.",
    "storage": "The storage unit is number 117 at SafeStore, code MV-3308.",
    "library_card": "My library card number is 2023 5511 0098.",
    # misc
    "pen": "Order a Quillfeather refill for the fountain pen.",
    "gift": "Get Carla a Japanese cookbook for her birthday.",
    "shoe_size": "My shoe size is 42.",
    "ring_size": "My ring size is N.",
    "height": "I am 178 cm tall.",
    "car_service": "The car's next service is due at 60,000 km.",
    "umbrella": "I left my umbrella at the Blue Door café.",
    "plumber": "The plumber who fixed the leak was Dave, from FlowRight.",
    "recipe_pref": "Jonas doesn't like coriander.",
    "wine": "We liked the 2019 Rioja from the wine shop on Calle Mayor.",
    "podcast": "I listen to a history podcast on the commute.",
    "blood_donation": "I give blood every four months at the town hall.",
    "volunteer": "I volunteer at the food bank on the last Sunday of the month.",
    "sleep": "I sleep better when the bedroom is below 19 degrees.",
}

DOCUMENTS = {
    "lease_pets": (
        "Lease, clause 14: Pets. The tenant may keep one dog or one cat with the landlord's written "
        "consent. Any damage caused by a pet is the tenant's responsibility and will be deducted from "
        "the deposit."
    ),
    "lease_notice": (
        "Lease, clause 21: Ending the tenancy. Either party may end the tenancy by giving two months' "
        "notice in writing. Notice must be sent by post or by email to the addresses in schedule A."
    ),
    "lease_deposit": (
        "Lease, clause 6: Deposit. A deposit of two months' rent is held in a government-backed "
        "deposit scheme and returned within ten days of the end of the tenancy, less agreed deductions."
    ),
    "boiler_reset": (
        "Boiler manual, section 5.2: If the display shows fault F28, the boiler failed to ignite. "
        "Check that the gas supply is on, then press and hold the reset button for five seconds."
    ),
    "boiler_pressure": (
        "Boiler manual, section 6.1: The system pressure should read between 1 and 1.5 bar when cold. "
        "To top it up, open the filling loop valves slowly until the gauge reaches 1.5 bar, then close them."
    ),
    "boiler_bleed": (
        "Boiler manual, section 7: If radiators are cold at the top, air is trapped. Turn the heating "
        "off, open the bleed valve with a radiator key until water appears, then close it."
    ),
    "recipe_dough": (
        "Pizza dough: mix 500 g of flour, 325 ml of warm water, 7 g of dried yeast and 10 g of salt. "
        "Knead for ten minutes and leave to rise for two hours."
    ),
    "recipe_oven": (
        "Bake the pizza on a preheated stone at 250 degrees for eight to ten minutes, until the crust "
        "is browned and the cheese bubbles."
    ),
    "recipe_curry": (
        "Chickpea curry: fry an onion, garlic and ginger, add two tablespoons of curry paste, a tin of "
        "tomatoes, a tin of coconut milk and two tins of chickpeas, and simmer for twenty minutes."
    ),
    "handbook_expenses": (
        "Team handbook: Expenses must be submitted within 30 days with a receipt. Claims over 200 euros "
        "need a manager's approval before they are paid."
    ),
    "handbook_remote": (
        "Team handbook: Everyone may work from home up to three days a week. Tuesdays are office days "
        "for the whole team."
    ),
    "handbook_oncall": (
        "Team handbook: On-call rotates weekly on Monday at 10:00. The on-call engineer answers pages "
        "within 15 minutes and writes an incident note for anything that woke them."
    ),
    "handbook_leave": (
        "Team handbook: Annual leave requests go through the HR portal at least two weeks ahead. "
        "Leave over ten consecutive days needs the director's sign-off."
    ),
    "warranty_tv": (
        "Television warranty card: the set is covered for parts and labour for three years from the "
        "date of purchase. Keep the receipt; claims are made through the retailer."
    ),
    "washing": (
        "Washing machine guide: for wool, use the 30-degree wool programme with a spin of 600 rpm. "
        "Clean the filter at the bottom right every three months."
    ),
    "insurance_home": (
        "Home insurance policy: accidental damage is covered up to 5,000 euros; the excess is 250 euros "
        "per claim. Report a claim within 14 days on 0800 555 0199."
    ),
    "gym_rules": (
        "Gym membership terms: the membership can be frozen for up to three months a year for medical "
        "reasons. Cancellations need 30 days' notice."
    ),
    "school_term": (
        "School newsletter: the spring term ends on the 28th of March and the summer term starts on "
        "the 14th of April. Sports day is on the 20th of June."
    ),
    "bike_manual": (
        "Bike manual: inflate the tyres to 4.5 to 6 bar. Lubricate the chain every 300 km, or after "
        "riding in the rain."
    ),
    "trip_itinerary": (
        "Japan itinerary: day 1 Tokyo, Shinjuku and the Meiji shrine; day 3 bullet train to Kyoto; "
        "day 5 day trip to Nara to see the deer park; day 7 Osaka street food."
    ),
    "meeting_minutes": (
        "Minutes of the garden committee: the compost bins will move next to the shed, the spring "
        "planting day is the second Saturday of April, and the new water butt was ordered from "
        "Hartwell & Finch."
    ),
    "porto_notes": (
        "Notes from the Porto weekend: we stayed near the river, ate grilled sardines behind the "
        "cathedral, and took the tram to the beach. The hotel booking reference was QZ8W2L."
    ),
}

MEMORIES = {**NOTES, **DOCUMENTS}

# question -> the memory that answers it (None: nothing stored answers it)
QUESTIONS: dict[str, str | None] = {
    # family
    "what is my sibling called?": "sister",
    "where does Alba live?": "sister",
    "what does my brother do for a living?": "brother",
    "when should I call my mother to wish her happy birthday?": "mum_bday",
    "can my father have prawns?": "dad_allergy",
    "which school year is my niece in?": "niece",
    "what subject does Jonas teach?": "partner_job",
    "when is our wedding anniversary?": "anniversary",
    "which city did Carla move to?": "best_friend",
    "where is my grandmother living now?": "grandma",
    "what size shoes does my son need?": "son_shoe",
    "what day does Maya go swimming?": "daughter_swim",
    # health
    "which antibiotic am I not allowed to take?": "allergy",
    "what's my blood group?": "blood",
    "who fixes my teeth?": "dentist",
    "who is my family doctor?": "gp",
    "what medication do I take in the morning?": "meds",
    "how strong are my glasses?": "glasses",
    "how often should I do my knee exercises?": "physio",
    "when did I last have a tetanus vaccination?": "vaccine",
    # home
    "what's the password for the internet at home?": "wifi",
    "how do I open the router settings?": "router_admin",
    "when was the heating boiler last checked?": "boiler_service",
    "which night do the recycling bins go out?": "bins",
    "who owns the flat we rent?": "landlord",
    "how much rent do we pay?": "rent",
    "how often should the monstera be watered?": "plant",
    "who has a copy of our house key?": "spare_key",
    "where can I read the electricity meter?": "meter",
    "what colour paint is in the living room?": "paint",
    "where are the fuses?": "fuse",
    "when does our broadband deal finish?": "internet",
    # pets
    "why does the dog hide during storms?": "dog",
    "how much food does Biscuit get each day?": "dog_food",
    "which vet looks after the cat?": "cat_vet",
    "how old is Miso?": "cat_name",
    # car and transport
    "what does the car need before winter?": "car_tyres",
    "what is my car's registration?": "car_plate",
    "when is the car insurance due for renewal?": "car_insurance",
    "which floor did I leave the car on at the station?": "parking",
    "what's the code for my bicycle lock?": "bike_lock",
    "when does my rail pass expire?": "train_pass",
    # work
    "how should I report to my boss?": "boss",
    "what time is the daily team meeting?": "standup",
    "what project am I in charge of?": "project",
    "when is the quarterly report due?": "deadline",
    "who signs off my expenses?": "colleague",
    "which floor is my desk on?": "office",
    "what is the asset number of my work computer?": "laptop",
    "what runs on zorblax?": "server",
    "what do I have to do with the VPN after restarting?": "vpn",
    "on which day am I paid?": "salary",
    "how many vacation days do I have left?": "holiday_days",
    # money
    "when does the mortgage get paid?": "bank",
    "how much are we saving for the kitchen?": "savings",
    "where do I keep my tax number?": "tax",
    "who manages my pension?": "pension",
    "how much data does my mobile plan include?": "phone_plan",
    # hobbies and preferences
    "which instrument am I studying?": "cello",
    "what book am I reading at the moment?": "book",
    "what do I drink when I wake up?": "tea",
    "how do I take my coffee?": "coffee",
    "do I eat meat?": "vegetarian",
    "when do I go jogging?": "running",
    "which football club do I follow?": "team",
    "what music group do I like most?": "music",
    "what is my favourite movie?": "film",
    "which language am I learning?": "language",
    "what vegetables do I grow?": "garden",
    "when is yoga now?": "yoga",
    "where does the choir practise?": "choir",
    # travel
    "when does my flight to Lisbon leave?": "flight",
    "when does my passport run out?": "passport",
    "what dates is the Kyoto hotel booked for?": "hotel",
    "where are we going camping this summer?": "trip",
    "what do I need before flying to the USA?": "visa",
    "what's my air miles number?": "frequent_flyer",
    # codes
    "which code is XK-7741?": "locker",
    "what is the alarm code for the house?": "alarm",
    "what number is our storage unit?": "storage",
    "what is my library card number?": "library_card",
    # misc
    "what refill does the fountain pen need?": "pen",
    "what present should I buy Carla?": "gift",
    "what size shoes do I wear?": "shoe_size",
    "what size ring do I wear?": "ring_size",
    "how tall am I?": "height",
    "at what mileage is the car's next service?": "car_service",
    "where did I forget my umbrella?": "umbrella",
    "who was the plumber who repaired the leak?": "plumber",
    "which herb does Jonas dislike?": "recipe_pref",
    "which wine did we enjoy?": "wine",
    "how often do I donate blood?": "blood_donation",
    "where do I volunteer?": "volunteer",
    "what bedroom temperature helps me sleep?": "sleep",
    # documents
    "are we allowed to have a pet in the flat?": "lease_pets",
    "how much notice do we need to give to move out?": "lease_notice",
    "when do we get the deposit back?": "lease_deposit",
    "the boiler shows F28, what do I do?": "boiler_reset",
    "what pressure should the heating system be at?": "boiler_pressure",
    "the radiators are cold at the top, how do I fix it?": "boiler_bleed",
    "how much yeast goes in the pizza dough?": "recipe_dough",
    "how hot should the oven be for pizza?": "recipe_oven",
    "what goes into the chickpea curry?": "recipe_curry",
    "how long do I have to submit an expense claim?": "handbook_expenses",
    "how many days a week can I work from home?": "handbook_remote",
    "when does the on-call rotation change?": "handbook_oncall",
    "how far ahead do I have to request holidays?": "handbook_leave",
    "how long is the TV under warranty?": "warranty_tv",
    "how do I wash a wool jumper?": "washing",
    "what is the excess on our home insurance?": "insurance_home",
    "can I pause my gym membership?": "gym_rules",
    "when do the kids go back to school after Easter?": "school_term",
    "what pressure should my bike tyres be?": "bike_manual",
    "which day do we visit Nara?": "trip_itinerary",
    "who sold us the water butt?": "meeting_minutes",
    "what was the booking reference in Porto?": "porto_notes",
    # nothing stored answers these
    "what is the capital of Australia?": None,
    "how do I make a good risotto?": None,
    "tell me a joke": None,
    "what's the weather like tomorrow?": None,
    "how many moons does Jupiter have?": None,
    "what is my cousin's name?": None,
    "when is my dentist appointment?": None,
    "what's my uncle's phone number?": None,
    "which airline do I fly with to Berlin?": None,
    "what is my employee ID?": None,
    "how do I change a car tyre?": None,
    "who won the world cup in 2010?": None,
    "what did I have for dinner yesterday?": None,
    "explain how a transistor works": None,
    "what is the best way to learn Python?": None,
    "what is my favourite colour?": None,
    "when is my brother's birthday?": None,
    "how far is the moon?": None,
    "write a poem about autumn": None,
    "what time does the supermarket close?": None,
    "what's the square root of 144?": None,
    "which gym do I go to?": None,
    "what is my neighbour's name?": None,
    "how do I cook rice?": None,
    "recommend a good podcast about science": None,
}


def measure(search: Callable[[str], list[str]], prompt: Callable[[str], list[str]]) -> dict[str, float]:
    """recall@1 and recall@5 of `search` (question -> memory keys, best first) over the questions
    with an answer; the irrelevant memories `prompt` (question -> the keys its prompt would hold) puts
    in a prompt, on average over all questions; and the share of unanswerable questions whose prompt
    holds no memory at all."""
    r1 = r5 = answerable = absent = empty = 0
    irrelevant: list[int] = []
    for question, want in QUESTIONS.items():
        in_prompt = prompt(question)
        irrelevant.append(sum(k != want for k in in_prompt))
        if want is None:
            absent += 1
            empty += not in_prompt
            continue
        got = search(question)
        answerable += 1
        r1 += got[:1] == [want]
        r5 += want in got[:5]
    return {
        "recall@1": r1 / answerable,
        "recall@5": r5 / answerable,
        "irrelevant per prompt": sum(irrelevant) / len(irrelevant),
        "unanswerable with no memory": empty / absent,
    }
