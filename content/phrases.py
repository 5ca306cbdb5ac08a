"""The offline provider's phrase bank, per locale and tone. Plain data, no logic.

Slots name fact roles (`content.offline.ROLE_KEYS`): {product}, {discount}, {price}, {ends}, {code},
{brand}. A phrase is used only when the facts fill all its slots. No phrase carries a number, a date
or a link of its own: whatever the offline provider writes states only the facts (the guard rails
hold it to that, tests/content/test_offline.py checks every phrase).
"""

from __future__ import annotations

TONES = ("friendly", "urgent", "premium", "playful")

HEADLINES: dict[str, dict[str, list[str]]] = {
    "en": {
        "friendly": ["{discount} off {product}", "Something nice for you: {product}", "{product}, just for you",
                     "A little treat: {discount} off", "Hello {product} season"],
        "urgent": ["Last chance: {discount} off {product}", "Ends {ends}: {product}", "Hurry, {product} won't wait",
                   "Don't miss {discount} off", "Going fast: {product}"],
        "premium": ["An invitation: {product}", "Exclusively yours: {product}", "Discover {product}",
                    "Reserved for you: {discount} off", "The {product} edit"],
        "playful": ["Psst… {discount} off {product}!", "Guess what? {product}!", "Treat yourself: {product}",
                    "Yes, {discount} off. Really.", "{product} time!"],
    },
    "es": {
        "friendly": ["{discount} de descuento en {product}", "Algo especial para ti: {product}",
                     "{product}, pensado para ti", "Un detalle: {discount} de descuento", "Llega {product}"],
        "urgent": ["Última oportunidad: {discount} en {product}", "Termina el {ends}: {product}",
                   "Date prisa, {product} vuela", "No te pierdas {discount} de descuento", "Se agota: {product}"],
        "premium": ["Una invitación: {product}", "Exclusivo para ti: {product}", "Descubre {product}",
                    "Reservado para ti: {discount} de descuento", "La selección {product}"],
        "playful": ["Psst… ¡{discount} en {product}!", "¿Sabes qué? ¡{product}!", "Date un capricho: {product}",
                    "Sí, {discount} de descuento. De verdad.", "¡Es hora de {product}!"],
    },
    "pt": {
        "friendly": ["{discount} de desconto em {product}", "Algo especial para você: {product}",
                     "{product}, pensado para você", "Um mimo: {discount} de desconto", "Chegou {product}"],
        "urgent": ["Última chance: {discount} em {product}", "Termina em {ends}: {product}",
                   "Corra, {product} está acabando", "Não perca {discount} de desconto", "Acabando: {product}"],
        "premium": ["Um convite: {product}", "Exclusivo para você: {product}", "Descubra {product}",
                    "Reservado para você: {discount} de desconto", "A seleção {product}"],
        "playful": ["Psiu… {discount} em {product}!", "Adivinha? {product}!", "Se dê um presente: {product}",
                    "Sim, {discount} de desconto. Sério.", "Hora de {product}!"],
    },
}  # fmt: skip

OFFERS: dict[str, list[str]] = {
    "en": ["Get {discount} off {product}.", "Enjoy {discount} off {product}.", "{product} now at {price}.",
           "{product} from {price}, with {discount} off.", "Save {discount} on {product}.", "{product}: {price}.",
           "Our {product} are waiting for you.", "Take a look at {product}."],
    "es": ["Consigue {discount} de descuento en {product}.", "Disfruta {discount} de descuento en {product}.",
           "{product} ahora a {price}.", "{product} desde {price}, con {discount} de descuento.",
           "Ahorra {discount} en {product}.", "{product}: {price}.", "Te esperan {product}.", "Echa un vistazo a {product}."],
    "pt": ["Ganhe {discount} de desconto em {product}.", "Aproveite {discount} de desconto em {product}.",
           "{product} agora por {price}.", "{product} a partir de {price}, com {discount} de desconto.",
           "Economize {discount} em {product}.", "{product}: {price}.", "{product} esperando por você.",
           "Dê uma olhada em {product}."],
}  # fmt: skip

DEADLINES: dict[str, list[str]] = {
    "en": ["Until {ends}.", "Ends {ends}.", "Valid until {ends}.", "Only until {ends}."],
    "es": ["Hasta el {ends}.", "Termina el {ends}.", "Válido hasta el {ends}.", "Solo hasta el {ends}."],
    "pt": ["Até {ends}.", "Termina em {ends}.", "Válido até {ends}.", "Só até {ends}."],
}

CODES: dict[str, list[str]] = {
    "en": ["Use code {code}.", "Code: {code}.", "Enter {code} at checkout."],
    "es": ["Usa el código {code}.", "Código: {code}.", "Introduce {code} al pagar."],
    "pt": ["Use o código {code}.", "Código: {code}.", "Digite {code} no pagamento."],
}

BRAND_SIGNATURES: dict[str, list[str]] = {
    "en": ["{brand}"],
    "es": ["{brand}"],
    "pt": ["{brand}"],
}

CALLS_TO_ACTION: dict[str, dict[str, list[str]]] = {
    "en": {
        "friendly": ["Take a look!", "Have a look today.", "We hope you love it."],
        "urgent": ["Shop now!", "Don't wait.", "Grab yours now."],
        "premium": ["Discover more.", "Explore the collection.", "We look forward to your visit."],
        "playful": ["Go on, you deserve it!", "Tap and treat yourself!", "Why not?"],
    },
    "es": {
        "friendly": ["¡Échale un vistazo!", "Descúbrelo hoy.", "Esperamos que te encante."],
        "urgent": ["¡Compra ya!", "No esperes.", "Consigue el tuyo ahora."],
        "premium": ["Descubre más.", "Explora la colección.", "Te esperamos."],
        "playful": ["¡Venga, te lo mereces!", "¡Toca y date un capricho!", "¿Por qué no?"],
    },
    "pt": {
        "friendly": ["Dê uma olhada!", "Confira hoje.", "Esperamos que você goste."],
        "urgent": ["Compre já!", "Não espere.", "Garanta o seu agora."],
        "premium": ["Descubra mais.", "Explore a coleção.", "Esperamos por você."],
        "playful": ["Vai, você merece!", "Toque e se presenteie!", "Por que não?"],
    },
}

LINK_LABELS: dict[str, str] = {"en": "See the offer", "es": "Ver la oferta", "pt": "Ver a oferta"}

MONTH_NAMES: dict[str, list[str]] = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
    "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"],
}  # fmt: skip
DATE_FORMATS: dict[str, str] = {"en": "{day} {month}", "es": "{day} de {month}", "pt": "{day} de {month}"}

# What the text says when a fact is missing: neutral words instead of the slot.
DEFAULT_PRODUCT: dict[str, str] = {"en": "our selection", "es": "nuestra selección", "pt": "nossa seleção"}
