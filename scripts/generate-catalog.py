#!/usr/bin/env python3
"""Writes server/seed/catalog.json and one generated SVG per product under public/products/.

Run it after editing the product list below; both outputs are committed, so nothing runs it at
build time. The art is deterministic: the same slug always gives the same picture.
"""
import hashlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent

# name, description, msrp in dollars, stock, base mass
PRODUCTS = [
    ("Aurora Merino Throw", "A featherweight merino blanket dyed in drifting greens and violets, warm enough for a night on the porch.", 129.00, 40, 2.0),
    ("Nebula Pour-Over Kettle", "Gooseneck kettle with a smoky glass body and a thermometer in the lid, for slow, even pours.", 64.00, 55, 1.5),
    ("Event Horizon Desk Lamp", "Matte black LED lamp whose ring of light dims smoothly from reading-bright to candle-soft.", 89.00, 35, 2.5),
    ("Comet Trail Running Shoes", "Lightweight trainers with a reflective heel streak and a foam sole that springs back mile after mile.", 139.00, 60, 3.0),
    ("Orbit Ceramic Mug Set", "Four stoneware mugs glazed in planet tones, each a slightly different size so they nest.", 48.00, 120, 1.0),
    ("Gravity Cast-Iron Skillet", "A 26 cm pre-seasoned skillet heavy enough to sear evenly and hand down to the next cook.", 72.00, 45, 6.0),
    ("Starlight Projector", "Throws a slow-turning field of stars and nebulae onto the ceiling, with a 60-minute sleep timer.", 54.00, 80, 1.5),
    ("Solar Flare Hot Sauce Trio", "Three small-batch sauces from mild smoked chipotle to a habanero that earns its name.", 27.00, 150, 0.8),
    ("Quasar Noise-Cancelling Headphones", "Over-ear headphones with 40 hours of battery and a transparency mode for train announcements.", 249.00, 30, 3.5),
    ("Lunar Linen Bedding Set", "Stone-washed linen duvet cover and two pillowcases in a pale moon grey that softens with every wash.", 179.00, 25, 4.0),
    ("Asteroid Rock Garden Kit", "Six volcanic stones, black sand and a walnut tray for a tiny desktop garden.", 36.00, 70, 2.0),
    ("Pulsar Smart Watch", "Slim fitness watch with heart-rate, sleep tracking and a week of battery between charges.", 199.00, 40, 2.0),
    ("Zenith Yoga Mat", "A 5 mm natural rubber mat with a grippy top layer and alignment lines etched in silver.", 79.00, 65, 3.0),
    ("Meteorite Chocolate Bar", "Dark 72% chocolate studded with cocoa nibs and flakes of sea salt, wrapped in foil like a space ration.", 9.50, 300, 0.5),
    ("Cosmos Watercolour Set", "Twenty-four pans of granulating watercolours that settle into speckled galaxies on the paper.", 42.00, 75, 1.0),
    ("Apollo Travel Backpack", "A 30-litre carry-on backpack that opens like a suitcase, with a padded sleeve for a 16-inch laptop.", 159.00, 38, 4.0),
    ("Saturn Ring Earrings", "Sterling silver hoops that cradle a small polished moonstone, light enough to forget you wear them.", 68.00, 50, 0.5),
    ("Galaxy Jigsaw Puzzle", "A 1,000-piece puzzle of the Andromeda galaxy, printed on thick recycled board.", 24.00, 110, 1.0),
    ("Ion Drive Electric Toothbrush", "Sonic toothbrush with three modes, a two-minute timer and a charge that lasts three weeks.", 59.00, 90, 1.0),
    ("Stellar Espresso Grinder", "Conical burr grinder with forty settings, from Turkish fine to cold-brew coarse.", 149.00, 28, 5.0),
    ("Nova Scented Candle", "Soy wax candle with notes of cedar, bergamot and a hint of smoke; burns for about fifty hours.", 32.00, 140, 1.0),
    ("Dark Matter Hoodie", "Heavyweight organic-cotton hoodie in the deepest black we could dye, with a brushed inside.", 85.00, 70, 2.5),
    ("Eclipse Sunglasses", "Polarised acetate sunglasses with a keyhole bridge and lenses that cut glare on water and snow.", 119.00, 45, 1.0),
    ("Red Giant Dutch Oven", "A 5.5-litre enamelled cast-iron pot in a deep red that goes from stove to oven to table.", 189.00, 20, 7.0),
    ("Kuiper Belt Bird Feeder", "Cedar bird feeder with a copper roof that weathers to a blue-green patina.", 45.00, 60, 2.0),
    ("Andromeda Fountain Pen", "A brass fountain pen with a medium steel nib and a converter for bottled ink.", 75.00, 40, 1.0),
    ("Photon Portable Charger", "A 20,000 mAh power bank that charges a phone four times and a laptop once, over USB-C.", 49.00, 100, 1.5),
    ("Orion Hiking Poles", "Carbon trekking poles that fold into three and lock with a single lever.", 99.00, 42, 2.0),
    ("Mars Terracotta Planters", "A set of three unglazed terracotta pots with saucers, in Martian rust red.", 38.00, 85, 3.0),
    ("Cassini Record Player", "Belt-drive turntable with a built-in preamp and a walnut plinth; plays 33 and 45 rpm.", 229.00, 18, 5.0),
    ("Supernova Bath Bombs", "Six fizzing bath bombs that bloom in pinks and golds, scented with grapefruit and vanilla.", 22.00, 200, 0.8),
    ("Voyager Leather Notebook", "A refillable A5 notebook in vegetable-tanned leather that darkens with every trip.", 56.00, 65, 1.0),
    ("Wormhole Infinity Scarf", "A loop scarf knitted from alpaca and silk, long enough to wrap twice.", 62.00, 55, 1.0),
    ("Celestial Tea Sampler", "Twelve loose-leaf teas from smoky lapsang to jasmine pearls, in small numbered tins.", 34.00, 95, 1.0),
    ("Parsec Mechanical Keyboard", "A compact 75% keyboard with hot-swappable switches and a gasket mount that softens each keystroke.", 169.00, 32, 3.0),
    ("Gamma Ray Air Purifier", "A quiet HEPA purifier for rooms up to 40 m², with a sensor that speeds up when the air gets worse.", 199.00, 22, 5.5),
    ("Hubble Binoculars", "10x42 waterproof binoculars, sharp enough for birdwatching by day and Jupiter's moons by night.", 189.00, 26, 3.0),
    ("Plasma Cooking Torch", "Refillable butane torch for caramelising crème brûlée and blistering peppers.", 39.00, 70, 1.0),
    ("Spacewalk Weighted Blanket", "A 7 kg weighted blanket in a breathable cotton cover for heavier, calmer sleep.", 149.00, 30, 8.0),
    ("Rocket Fuel Cold Brew", "Concentrated cold brew coffee, 1 litre, that makes eight strong glasses over ice.", 18.00, 180, 1.0),
    ("Polaris Compass", "A brass pocket compass with a liquid-damped needle and a glow-in-the-dark bezel.", 29.00, 90, 0.8),
    ("Magnetar Knife Strip", "A walnut magnetic strip that holds six kitchen knives securely on the wall.", 44.00, 60, 1.5),
    ("Vega Wireless Speaker", "A palm-sized waterproof speaker with twelve hours of surprisingly full sound.", 79.00, 75, 1.5),
    ("Jupiter Storm Umbrella", "A wind-tested umbrella with a vented canopy that stays the right way out in a gale.", 46.00, 85, 1.5),
    ("Interstellar Map Poster", "A large-format print of the local stellar neighbourhood, every star within fifty light years labelled.", 28.00, 100, 0.8),
    ("Titan Cast Dumbbells", "A pair of adjustable dumbbells from 2 to 24 kg with a quick-turn dial.", 299.00, 15, 9.0),
    ("Luna Silk Pillowcase", "A mulberry silk pillowcase that is kind to hair and skin, in pearl white.", 49.00, 80, 0.8),
    ("Asteria Glass Water Bottle", "Borosilicate bottle in a silicone sleeve, with a bamboo lid and a tea infuser.", 26.00, 130, 1.0),
    ("Zero-G Camping Hammock", "A parachute-nylon hammock with tree straps that packs down to the size of a grapefruit.", 58.00, 55, 1.5),
    ("Chronograph Field Watch", "A 38 mm automatic field watch with a sapphire crystal and a canvas strap.", 349.00, 12, 2.5),
    ("Space Station Lego-Style Kit", "A 1,200-piece brick model of a modular orbital station with rotating solar arrays.", 119.00, 35, 3.0),
    ("Moon Dust Face Mask", "A kaolin clay mask with charcoal and aloe that tightens pores in ten minutes.", 24.00, 120, 0.8),
    ("Radiant Infrared Heater", "A slim wall-mounted heater that warms people and surfaces, not the air, silently.", 139.00, 24, 4.5),
    ("Orbital Sander", "A 300 W random-orbit sander with dust extraction and six speeds for fine finishing.", 89.00, 30, 3.5),
    ("Starfield Glow Paint", "Photoluminescent paint in three colours that charges by day and glows for hours at night.", 21.00, 110, 0.8),
    ("Telescope Starter 70mm", "A 70 mm refractor on an alt-azimuth mount, with two eyepieces and a phone adapter.", 159.00, 20, 4.0),
    ("Cosmic Bean Coffee 1kg", "Whole-bean espresso blend with notes of dark cherry and cocoa, roasted the week it ships.", 32.00, 160, 2.0),
    ("Nebula Marble Coasters", "Four marble coasters with cork backs, veined in indigo and gold.", 29.00, 90, 1.5),
    ("Ascent Climbing Chalk Bag", "A roll-top chalk bag with a brush holder and a fleece lining.", 27.00, 70, 0.8),
    ("Light-Year Reading Glasses", "Lightweight readers with blue-light filtering lenses, in a case that clips to a notebook.", 35.00, 100, 0.5),
    ("Orbit Kids' Planetarium Globe", "An illuminated globe that shows countries by day and constellations when the light is on.", 65.00, 40, 2.5),
    ("Rover All-Terrain Scooter", "A foldable kick scooter with air tyres for gravel paths and cobblestones.", 179.00, 16, 6.0),
    ("Gravity Bean Bag Chair", "A memory-foam bean bag in washable corduroy that holds its shape under anyone.", 219.00, 14, 7.5),
    ("Satellite Dish Salad Bowl", "A wide acacia-wood serving bowl with matching servers, big enough for a dinner party.", 52.00, 50, 2.5),
]


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def art(slug: str, name: str) -> str:
    """A small planet with rings and moons; colours and layout derive from the slug's hash."""
    h = hashlib.sha256(slug.encode()).digest()
    hue = h[0] * 360 // 256
    hue2 = (hue + 40 + h[1] % 80) % 360
    tilt = h[2] % 50 - 25
    ring = h[3] % 2 == 0
    moons = h[4] % 3 + 1
    stars = "".join(
        f'<circle cx="{h[(5 + k) % 32] * 200 // 256}" cy="{h[(13 + k) % 32] * 200 // 256}" r="{0.6 + (h[(21 + k) % 32] % 3) * 0.4:.1f}" fill="#fff" opacity="0.7"/>'
        for k in range(8)
    )
    moon_svg = "".join(
        f'<circle cx="{100 + (60 + 10 * k) * (1 if k % 2 else -1)}" cy="{60 + 25 * k}" r="{5 + k * 2}" fill="hsl({hue2},40%,75%)"/>'
        for k in range(moons)
    )
    ring_svg = (
        f'<ellipse cx="100" cy="100" rx="78" ry="18" fill="none" stroke="hsl({hue2},70%,70%)" stroke-width="6" opacity="0.85" transform="rotate({tilt} 100 100)"/>'
        if ring
        else ""
    )
    initials = "".join(w[0] for w in name.split()[:2]).upper()
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" width="200" height="200">'
        f'<title>{name}</title>'
        f'<defs><radialGradient id="g" cx="35%" cy="35%" r="70%"><stop offset="0" stop-color="hsl({hue},85%,72%)"/>'
        f'<stop offset="1" stop-color="hsl({hue},70%,28%)"/></radialGradient></defs>'
        '<rect width="200" height="200" rx="24" fill="#0b1024"/>'
        f"{stars}{moon_svg}"
        '<circle cx="100" cy="100" r="52" fill="url(#g)"/>'
        f"{ring_svg}"
        f'<text x="100" y="112" font-family="sans-serif" font-size="34" font-weight="700" text-anchor="middle" fill="#fff" opacity="0.9">{initials}</text>'
        "</svg>\n"
    )


def main() -> None:
    catalog = []
    for order, (name, description, msrp, stock, mass) in enumerate(PRODUCTS):
        slug = slugify(name)
        msrp_cents = round(msrp * 100)
        catalog.append(
            {
                "slug": slug,
                "name": name,
                "description": description,
                "imagePath": f"/products/{slug}.svg",
                "msrpCents": msrp_cents,
                # The live price may decay to 65% of the list price, rounded to whole cents.
                "priceFloorCents": msrp_cents * 65 // 100,
                "baseMass": mass,
                "stock": stock,
                "sortOrder": order,
            }
        )
        (ROOT / "public" / "products" / f"{slug}.svg").write_text(art(slug, name))
    slugs = [p["slug"] for p in catalog]
    assert len(set(slugs)) == len(slugs), "duplicate slug"
    (ROOT / "server" / "seed" / "catalog.json").write_text(json.dumps(catalog, indent=1) + "\n")
    print(f"wrote {len(catalog)} products")


if __name__ == "__main__":
    main()
