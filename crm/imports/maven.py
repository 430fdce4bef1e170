def import_maven(directory):
    raise NotImplementedError
