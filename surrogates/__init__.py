"""segevo.surrogates"""
