"""Helpers of the import tests: files in memory, and the upload → map → preview → run flow
through the HTTP routes."""
import csv
import io
import re


def csv_bytes(rows, encoding="utf-8", bom=False, delimiter=","):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def upload(client, data: bytes, name="customers.csv", kind="customers"):
    return client.post("/import", data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def import_id_of(response) -> int:
    location = response.headers.get("Location") or response.headers.get("HX-Redirect") or ""
    match = re.search(r"/import/(\d+)", location)
    assert match, (response.status_code, location, response.get_data(as_text=True)[:500])
    return int(match.group(1))


def selected(page: str, name: str) -> str | None:
    """The selected option of the select `name` on a page."""
    match = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S)
    if not match:
        return None
    for option in re.findall(r"<option[^>]*>", match.group(0)):
        if re.search(r"\sselected", option):
            return re.search(r'value="([^"]*)"', option).group(1)
    return None


def map_columns(client, import_id, mapping: dict, on_match="update", mode="valid", **reading):
    page = client.get(f"/import/{import_id}/map").get_data(as_text=True)
    form = {"on_match": on_match, "mode": mode,
            "encoding": reading.get("encoding") or selected(page, "encoding") or "utf-8",
            "delimiter": reading.get("delimiter") or selected(page, "delimiter") or ","}
    form.update({f"col_{i}": key for i, key in mapping.items()})
    return client.post(f"/import/{import_id}/map", data=form)


def run_file(client, data, mapping=None, name="customers.csv", kind="customers", **options):
    """Upload, map (the suggestions, or `mapping` {column index: field}), preview, run. The
    import's id; the job runs inside the request (JOBS_IMMEDIATE)."""
    response = upload(client, data, name, kind)
    import_id = import_id_of(response)
    page = client.get(f"/import/{import_id}/map").get_data(as_text=True)
    if mapping is None:
        mapping = {}
        for index in re.findall(r'name="col_(\d+)"', page):
            mapping[int(index)] = selected(page, f"col_{index}") or ""
    response = map_columns(client, import_id, mapping, **options)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]
    preview = client.get(f"/import/{import_id}/preview")
    assert preview.status_code == 200, re.findall(r'role="alert">(.*?)<', preview.get_data(as_text=True))
    response = client.post(f"/import/{import_id}/run")
    assert response.status_code in (302, 303)
    return import_id
