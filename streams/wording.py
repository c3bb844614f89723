# ruff: noqa: RUF001 - texts in other scripts keep their own (full-width) punctuation
"""The product's own words, per language: the expiry (``{{expires_in}}``), the "do not
share this code" line, the voice call's introduction, and the built-in texts an admin
can start from (log-in, sign-up, password reset, payment confirmation).

Each language says whether its texts travel as GSM-7 (``ENCODING``): Latin-script
texts whose spelling stays inside the GSM 03.38 alphabet do; the others (Cyrillic,
Arabic, Chinese, Japanese, and the Latin spellings with ş, ł, ã, ...) are UCS-2.
``tests/test_wording.py`` holds every built-in text to the code placeholder and one
segment of that encoding (a 6-digit code, an 11-character brand, a 10-minute expiry).
"""

from __future__ import annotations

from collections.abc import Callable

from . import locales

EVENTS = {
    "login": "Log-in",
    "signup": "Sign-up",
    "password_reset": "Password reset",
    "payment": "Payment confirmation",
}

# A plural category for a number, per language: "one", "few", "many" or "other".
Plural = Callable[[int], str]


def _one_other(n: int) -> str:
    return "one" if n == 1 else "other"


def _french(n: int) -> str:
    return "one" if n in (0, 1) else "other"


def _none(n: int) -> str:
    return "other"


def _slavic(n: int) -> str:
    """Russian and Polish: 1 (21, 31 in Russian) / 2-4 / 5-20 and the rest."""
    if n % 10 == 1 and n % 100 != 11:
        return "one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "few"
    return "many"


def _polish(n: int) -> str:
    return "one" if n == 1 else ("many" if _slavic(n) == "one" else _slavic(n))


def _arabic(n: int) -> str:
    if n in (1, 2):
        return {1: "one", 2: "two"}[n]
    return "few" if 3 <= n % 100 <= 10 else "other"


# unit -> category -> format; "{n}" is the number.
DurationForms = dict[str, dict[str, str]]


def _forms(second: tuple, minute: tuple, hour: tuple, categories: tuple) -> DurationForms:
    return {
        unit: dict(zip(categories, forms, strict=True))
        for unit, forms in (("second", second), ("minute", minute), ("hour", hour))
    }


OO = ("one", "other")
SLAVIC = ("one", "few", "many")
ARABIC = ("one", "two", "few", "other")


class Language:
    def __init__(
        self,
        code: str,
        name: str,
        encoding: str,
        plural: Plural,
        durations: DurationForms,
        do_not_share: str,
        voice_intro: str,
        texts: dict[str, str],
    ):
        self.code, self.name, self.encoding = code, name, encoding
        self.plural, self.durations = plural, durations
        self.do_not_share, self.voice_intro, self.texts = do_not_share, voice_intro, texts


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language(
            "en",
            "English",
            "gsm7",
            _one_other,
            _forms(
                ("{n} second", "{n} seconds"),
                ("{n} minute", "{n} minutes"),
                ("{n} hour", "{n} hours"),
                OO,
            ),
            "Do not share this code with anyone.",
            "Hello. Here is your verification code.",
            {
                "login": "{{brand}}: your log-in code is {{code}}. It expires in {{expires_in}}.",
                "signup": "{{brand}}: your sign-up code is {{code}}. It expires in {{expires_in}}.",
                "password_reset": "{{brand}}: your password reset code is {{code}}. "
                "It expires in {{expires_in}}.",
                "payment": "{{brand}}: your payment confirmation code is {{code}}. "
                "It expires in {{expires_in}}.",
            },
        ),
        Language(
            "fr",
            "Français",
            "gsm7",
            _french,
            _forms(
                ("{n} seconde", "{n} secondes"),
                ("{n} minute", "{n} minutes"),
                ("{n} heure", "{n} heures"),
                OO,
            ),
            "Ne le partagez avec personne.",
            "Bonjour. Voici votre code de vérification.",
            {
                "login": "{{brand}} : votre code de connexion est {{code}}. "
                "Il expire dans {{expires_in}}.",
                "signup": "{{brand}} : votre code d'inscription est {{code}}. "
                "Il expire dans {{expires_in}}.",
                "password_reset": "{{brand}} : votre code de réinitialisation du mot de passe "
                "est {{code}}. Il expire dans {{expires_in}}.",
                "payment": "{{brand}} : votre code de confirmation de paiement est {{code}}. "
                "Il expire dans {{expires_in}}.",
            },
        ),
        Language(
            "de",
            "Deutsch",
            "gsm7",
            _one_other,
            _forms(
                ("{n} Sekunde", "{n} Sekunden"),
                ("{n} Minute", "{n} Minuten"),
                ("{n} Stunde", "{n} Stunden"),
                OO,
            ),
            "Geben Sie diesen Code an niemanden weiter.",
            "Hallo. Hier ist Ihr Bestätigungscode.",
            {
                "login": "{{brand}}: Ihr Anmeldecode lautet {{code}}. "
                "Er ist {{expires_in}} gültig.",
                "signup": "{{brand}}: Ihr Registrierungscode lautet {{code}}. "
                "Er ist {{expires_in}} gültig.",
                "password_reset": "{{brand}}: Ihr Code zum Zurücksetzen des Passworts lautet "
                "{{code}}. Er ist {{expires_in}} gültig.",
                "payment": "{{brand}}: Ihr Code zur Zahlungsbestätigung lautet {{code}}. "
                "Er ist {{expires_in}} gültig.",
            },
        ),
        Language(
            "es",
            "Español",
            "gsm7",
            _one_other,
            _forms(
                ("{n} segundo", "{n} segundos"),
                ("{n} minuto", "{n} minutos"),
                ("{n} hora", "{n} horas"),
                OO,
            ),
            "No la compartas con nadie.",
            "Hola. Esta es tu clave de verificación.",
            {
                "login": "{{brand}}: tu clave de acceso es {{code}}. Caduca en {{expires_in}}.",
                "signup": "{{brand}}: tu clave de registro es {{code}}. Caduca en {{expires_in}}.",
                "password_reset": "{{brand}}: tu clave para restablecer la contraseña es "
                "{{code}}. Caduca en {{expires_in}}.",
                "payment": "{{brand}}: tu clave para confirmar el pago es {{code}}. "
                "Caduca en {{expires_in}}.",
            },
        ),
        Language(
            "it",
            "Italiano",
            "gsm7",
            _one_other,
            _forms(
                ("{n} secondo", "{n} secondi"),
                ("{n} minuto", "{n} minuti"),
                ("{n} ora", "{n} ore"),
                OO,
            ),
            "Non condividerlo con nessuno.",
            "Ciao. Ecco il tuo codice di verifica.",
            {
                "login": "{{brand}}: il tuo codice di accesso è {{code}}. "
                "Scade tra {{expires_in}}.",
                "signup": "{{brand}}: il tuo codice di registrazione è {{code}}. "
                "Scade tra {{expires_in}}.",
                "password_reset": "{{brand}}: il tuo codice per reimpostare la password è "
                "{{code}}. Scade tra {{expires_in}}.",
                "payment": "{{brand}}: il tuo codice di conferma del pagamento è {{code}}. "
                "Scade tra {{expires_in}}.",
            },
        ),
        Language(
            "nl",
            "Nederlands",
            "gsm7",
            _one_other,
            _forms(
                ("{n} seconde", "{n} seconden"),
                ("{n} minuut", "{n} minuten"),
                ("{n} uur", "{n} uur"),
                OO,
            ),
            "Deel deze code met niemand.",
            "Hallo. Hier is je verificatiecode.",
            {
                "login": "{{brand}}: je inlogcode is {{code}}. "
                "Deze code verloopt over {{expires_in}}.",
                "signup": "{{brand}}: je registratiecode is {{code}}. "
                "Deze code verloopt over {{expires_in}}.",
                "password_reset": "{{brand}}: je code om je wachtwoord te herstellen is "
                "{{code}}. Deze code verloopt over {{expires_in}}.",
                "payment": "{{brand}}: je code om de betaling te bevestigen is {{code}}. "
                "Deze code verloopt over {{expires_in}}.",
            },
        ),
        Language(
            "sv",
            "Svenska",
            "gsm7",
            _one_other,
            _forms(
                ("{n} sekund", "{n} sekunder"),
                ("{n} minut", "{n} minuter"),
                ("{n} timme", "{n} timmar"),
                OO,
            ),
            "Dela inte koden med någon.",
            "Hej. Här är din verifieringskod.",
            {
                "login": "{{brand}}: din inloggningskod är {{code}}. Den gäller i {{expires_in}}.",
                "signup": "{{brand}}: din registreringskod är {{code}}. "
                "Den gäller i {{expires_in}}.",
                "password_reset": "{{brand}}: din kod för att återställa lösenordet är "
                "{{code}}. Den gäller i {{expires_in}}.",
                "payment": "{{brand}}: din kod för att bekräfta betalningen är {{code}}. "
                "Den gäller i {{expires_in}}.",
            },
        ),
        Language(
            "id",
            "Bahasa Indonesia",
            "gsm7",
            _none,
            _forms(("{n} detik",), ("{n} menit",), ("{n} jam",), ("other",)),
            "Jangan berikan kode ini kepada siapa pun.",
            "Halo. Ini kode verifikasi Anda.",
            {
                "login": "{{brand}}: kode masuk Anda adalah {{code}}. Berlaku {{expires_in}}.",
                "signup": "{{brand}}: kode pendaftaran Anda adalah {{code}}. "
                "Berlaku {{expires_in}}.",
                "password_reset": "{{brand}}: kode untuk mengatur ulang kata sandi Anda adalah "
                "{{code}}. Berlaku {{expires_in}}.",
                "payment": "{{brand}}: kode konfirmasi pembayaran Anda adalah {{code}}. "
                "Berlaku {{expires_in}}.",
            },
        ),
        Language(
            "pt",
            "Português",
            "ucs2",
            _one_other,
            _forms(
                ("{n} segundo", "{n} segundos"),
                ("{n} minuto", "{n} minutos"),
                ("{n} hora", "{n} horas"),
                OO,
            ),
            "Não compartilhe com ninguém.",
            "Olá. Este é o seu código de verificação.",
            {
                "login": "{{brand}}: código de acesso {{code}}. Expira em {{expires_in}}.",
                "signup": "{{brand}}: código de cadastro {{code}}. Expira em {{expires_in}}.",
                "password_reset": "{{brand}}: código de nova senha {{code}}. "
                "Expira em {{expires_in}}.",
                "payment": "{{brand}}: código de pagamento {{code}}. Expira em {{expires_in}}.",
            },
        ),
        Language(
            "pl",
            "Polski",
            "ucs2",
            _polish,
            _forms(
                ("{n} sekundę", "{n} sekundy", "{n} sekund"),
                ("{n} minutę", "{n} minuty", "{n} minut"),
                ("{n} godzinę", "{n} godziny", "{n} godzin"),
                SLAVIC,
            ),
            "Nie udostępniaj go nikomu.",
            "Dzień dobry. Oto Twój kod weryfikacyjny.",
            {
                "login": "{{brand}}: kod logowania {{code}}. Ważny przez {{expires_in}}.",
                "signup": "{{brand}}: kod rejestracji {{code}}. Ważny przez {{expires_in}}.",
                "password_reset": "{{brand}}: kod do zmiany hasła {{code}}. "
                "Ważny przez {{expires_in}}.",
                "payment": "{{brand}}: kod potwierdzenia płatności {{code}}. "
                "Ważny przez {{expires_in}}.",
            },
        ),
        Language(
            "tr",
            "Türkçe",
            "ucs2",
            _none,
            _forms(("{n} saniye",), ("{n} dakika",), ("{n} saat",), ("other",)),
            "Bu kodu kimseyle paylaşmayın.",
            "Merhaba. Doğrulama kodunuz aşağıdadır.",
            {
                "login": "{{brand}}: giriş kodunuz {{code}}. {{expires_in}} geçerlidir.",
                "signup": "{{brand}}: kayıt kodunuz {{code}}. {{expires_in}} geçerlidir.",
                "password_reset": "{{brand}}: şifre sıfırlama kodunuz {{code}}. "
                "{{expires_in}} geçerlidir.",
                "payment": "{{brand}}: ödeme onay kodunuz {{code}}. {{expires_in}} geçerlidir.",
            },
        ),
        Language(
            "ru",
            "Русский",
            "ucs2",
            _slavic,
            _forms(
                ("{n} секунду", "{n} секунды", "{n} секунд"),
                ("{n} минуту", "{n} минуты", "{n} минут"),
                ("{n} час", "{n} часа", "{n} часов"),
                SLAVIC,
            ),
            "Никому не сообщайте этот код.",
            "Здравствуйте. Ваш код подтверждения.",
            {
                "login": "{{brand}}: код для входа {{code}}. Действует {{expires_in}}.",
                "signup": "{{brand}}: код для регистрации {{code}}. Действует {{expires_in}}.",
                "password_reset": "{{brand}}: код для сброса пароля {{code}}. "
                "Действует {{expires_in}}.",
                "payment": "{{brand}}: код подтверждения платежа {{code}}. "
                "Действует {{expires_in}}.",
            },
        ),
        Language(
            "ar",
            "العربية",
            "ucs2",
            _arabic,
            _forms(
                ("ثانية واحدة", "ثانيتين", "{n} ثوانٍ", "{n} ثانية"),
                ("دقيقة واحدة", "دقيقتين", "{n} دقائق", "{n} دقيقة"),
                ("ساعة واحدة", "ساعتين", "{n} ساعات", "{n} ساعة"),
                ARABIC,
            ),
            "لا تشارك هذا الرمز مع أحد.",
            "مرحبًا. إليك رمز التحقق الخاص بك.",
            {
                "login": "{{brand}}: رمز الدخول {{code}}. صالح لمدة {{expires_in}}.",
                "signup": "{{brand}}: رمز التسجيل {{code}}. صالح لمدة {{expires_in}}.",
                "password_reset": "{{brand}}: رمز إعادة تعيين كلمة المرور {{code}}. "
                "صالح لمدة {{expires_in}}.",
                "payment": "{{brand}}: رمز تأكيد الدفع {{code}}. صالح لمدة {{expires_in}}.",
            },
        ),
        Language(
            "zh",
            "中文",
            "ucs2",
            _none,
            _forms(("{n}秒",), ("{n}分钟",), ("{n}小时",), ("other",)),
            "请勿将验证码告诉他人。",
            "您好，以下是您的验证码。",
            {
                "login": "【{{brand}}】您的登录验证码为{{code}}，{{expires_in}}内有效。",
                "signup": "【{{brand}}】您的注册验证码为{{code}}，{{expires_in}}内有效。",
                "password_reset": "【{{brand}}】您正在重置密码，验证码为{{code}}，"
                "{{expires_in}}内有效。",
                "payment": "【{{brand}}】您的支付确认验证码为{{code}}，{{expires_in}}内有效。",
            },
        ),
        Language(
            "ja",
            "日本語",
            "ucs2",
            _none,
            _forms(("{n}秒",), ("{n}分",), ("{n}時間",), ("other",)),
            "このコードを他人に教えないでください。",
            "こんにちは。認証コードをお知らせします。",
            {
                "login": "{{brand}}：ログイン認証コードは{{code}}です。"
                "有効期限は{{expires_in}}です。",
                "signup": "{{brand}}：会員登録の認証コードは{{code}}です。"
                "有効期限は{{expires_in}}です。",
                "password_reset": "{{brand}}：パスワード再設定の認証コードは{{code}}です。"
                "有効期限は{{expires_in}}です。",
                "payment": "{{brand}}：お支払い確認の認証コードは{{code}}です。"
                "有効期限は{{expires_in}}です。",
            },
        ),
    ]
}


def language_for(tag: str) -> Language:
    """The product's words for ``tag``'s language; English when it has none."""
    return LANGUAGES.get(locales.language_of(tag or "en"), LANGUAGES["en"])


def expires_in(seconds: int, tag: str) -> str:
    """``seconds`` said in ``tag``'s language, in the largest whole unit (5 minutes)."""
    language = language_for(tag)
    if seconds % 3600 == 0:
        unit, n = "hour", seconds // 3600
    elif seconds % 60 == 0:
        unit, n = "minute", seconds // 60
    else:
        unit, n = "second", seconds
    forms = language.durations[unit]
    form = forms.get(language.plural(n)) or forms.get("other") or next(iter(forms.values()))
    return form.format(n=n)


def do_not_share(tag: str) -> str:
    return language_for(tag).do_not_share


def voice_intro(tag: str) -> str:
    return language_for(tag).voice_intro


def builtin_text(event: str, tag: str) -> str | None:
    language = LANGUAGES.get(locales.language_of(tag))
    return language.texts.get(event) if language else None
