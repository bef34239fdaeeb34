from locust_mtls import MtlsUser


class WhoAmIUser(MtlsUser):
    path = "/whoami"
    identity_check = "require"  # a response that names no caller fails

    def identity_seen(self, response) -> str | None:
        # The echo server names the caller in "subject"; your API has its own field.
        return response.json().get("subject")  # None: this answer does not say
